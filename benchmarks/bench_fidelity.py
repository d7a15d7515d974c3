"""Capture fidelity: does what reaches the collector match what the app's users said, per shape of app?

Run from the repository root::

    python benchmarks/bench_fidelity.py                          # one process, 4 threads
    python benchmarks/bench_fidelity.py --workers 4 --store redis   # 4 worker processes, one Redis
    python benchmarks/bench_fidelity.py --workers 4 --store memory  # the same without a shared store

Many look-alike conversations (every one opens with "Hi"; later user turns repeat across
conversations but for a tag ``[<shape> c<n>]``) run through the real ``openai`` SDK against
``align_instrument.local_llm`` with ``autoinstrument()`` and no session ids, their turns
interleaved over 4 threads (or sent round-robin to worker processes, so consecutive turns of a
conversation hit different workers). Replies differ by conversation (``seed``, as sampled replies
do), except in the shapes whose point is identical replies. Each conversation's generator knows
the transcript it should produce (ground truth); the collector's sessions are compared with it.

Per shape: purity (sessions holding one conversation), completeness (conversations whose
transcript arrived exactly, as one session), index accuracy (expected (index, role, text) found in
the conversation's main session), replies missing, duplicate (session, index) events.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Generator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

Spec = dict[str, Any]  # one request: messages, mode, seed, user, fault
Result = dict[str, Any]  # text, texts (n>1), message (a tool-call assistant message)
Expected = list[tuple[str, str]]  # (role, text) in order: the transcript the app should get
Conversation = Generator[Spec, Result, Expected]

SYSTEM = {"role": "system", "content": "You are a support bot."}
TURNS = 6


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


# --- the apps: one generator per shape; each yields requests and returns its ground truth -----------


def question(tag: str, turn: int) -> str:
    return "Hi" if turn == 0 else f"{tag} question {turn}"


def chat_app(
    tag: str, build: Callable[[list[Any]], list[Any]], turns: int = TURNS, **request: Any
) -> Conversation:
    """The common app: it keeps the whole history and sends ``build(history)`` each turn."""
    history: list[Any] = []
    expected: Expected = []
    for turn in range(turns):
        text = question(tag, turn)
        history.append(user(text))
        answer = (yield {"messages": build(history), **request})["text"]
        history.append(assistant(answer))
        expected += [("user", text), ("assistant", answer)]
    return expected


def full_history(tag: str, seed: int | None, **_: Any) -> Conversation:
    return (yield from chat_app(tag, lambda history: [SYSTEM, *history], seed=seed))


def system_changes(tag: str, seed: int | None, **_: Any) -> Conversation:
    def build(history: list[Any]) -> list[Any]:
        return [{"role": "system", "content": f"The time is {time.time():.6f}."}, *history]

    return (yield from chat_app(tag, build, seed=seed))


def window(tag: str, seed: int | None, **_: Any) -> Conversation:
    return (yield from chat_app(tag, lambda history: [SYSTEM, *history[-6:]], TURNS + 4, seed=seed))


def summary(tag: str, seed: int | None, **_: Any) -> Conversation:
    def build(history: list[Any]) -> list[Any]:
        if len(history) < 7:  # from the 4th turn on, all but the last exchange are summarised
            return [SYSTEM, *history]
        note = {"role": "system", "content": f"Summary of {len(history) - 3} earlier messages."}
        return [SYSTEM, note, *history[-3:]]

    return (yield from chat_app(tag, build, seed=seed))


def rag(tag: str, seed: int | None, **_: Any) -> Conversation:
    stored: list[Any] = []
    expected: Expected = []
    for turn in range(TURNS):
        text = question(tag, turn)
        wrapped = f"Context:\n[doc] Settings > Security.\n\nQuestion: {text}"
        answer = (yield {"messages": [SYSTEM, *stored, user(wrapped)], "seed": seed})["text"]
        stored += [user(text), assistant(answer)]  # stored unwrapped
        expected += [("user", wrapped), ("assistant", answer)]  # logged as sent
    return expected


def tool_loop(tag: str, seed: int | None, **_: Any) -> Conversation:
    stored: list[Any] = []
    expected: Expected = []
    for turn in range(TURNS):
        text = "Hi" if turn == 0 else f"{tag} what is the weather, turn {turn}"
        loop: list[Any] = [SYSTEM, *stored, user(text)]
        if turn == 0:
            answer = (yield {"messages": loop, "seed": seed})["text"]
        else:
            call = (yield {"messages": loop, "seed": seed, "tools": True})["message"]
            call_id = call["tool_calls"][0]["id"]
            loop += [call, {"role": "tool", "tool_call_id": call_id, "content": f"sunny {turn}"}]
            answer = (yield {"messages": loop, "seed": seed, "tools": True})["text"]
        stored += [user(text), assistant(answer)]  # the tool steps are not stored
        expected += [("user", text), ("assistant", answer)]
    return expected


def regenerate(tag: str, seed: int | None, **_: Any) -> Conversation:
    history: list[Any] = []
    expected: Expected = []
    for turn in range(TURNS):
        text = question(tag, turn)
        history.append(user(text))
        answer = (yield {"messages": [SYSTEM, *history], "seed": seed})["text"]
        expected += [("user", text), ("assistant", answer)]
        if turn == 2:  # the user presses "regenerate" and goes on with the new take
            answer = (yield {"messages": [SYSTEM, *history], "seed": (seed or 0) + 5000})["text"]
            expected.append(("assistant", answer))
        history.append(assistant(answer))
    return expected


def retry_failed(tag: str, seed: int | None, **_: Any) -> Conversation:
    history: list[Any] = []
    expected: Expected = []
    for turn in range(TURNS):
        text = question(tag, turn)
        history.append(user(text))
        if turn in (0, 3):  # a 500 from the provider, then the app retries the same request
            yield {"messages": [SYSTEM, *history], "seed": seed, "fault": True}
        answer = (yield {"messages": [SYSTEM, *history], "seed": seed})["text"]
        history.append(assistant(answer))
        expected += [("user", text), ("assistant", answer)]
    return expected


def stream(tag: str, seed: int | None, **_: Any) -> Conversation:
    return (yield from chat_app(tag, lambda history: [SYSTEM, *history], seed=seed, mode="stream"))


def n2(tag: str, seed: int | None, **_: Any) -> Conversation:
    history: list[Any] = []
    expected: Expected = []
    for turn in range(TURNS):
        text = question(tag, turn)
        history.append(user(text))
        texts = (yield {"messages": [SYSTEM, *history], "seed": seed, "mode": "n2"})["texts"]
        history.append(assistant(texts[1]))  # the app shows the second choice
        expected += [("user", text), ("assistant", texts[0])]  # the first is the one logged
    return expected


def user_field(tag: str, seed: int | None, conversation: int = 0, **_: Any) -> Conversation:
    """Identical openers and identical first replies, told apart by the request's ``user``."""
    return (yield from chat_app(tag, lambda history: [SYSTEM, *history], user=f"user-{conversation}"))


def anonymous_identical(tag: str, seed: int | None, **_: Any) -> Conversation:
    """Identical openers and identical first replies, no user: cannot be told apart (purity first)."""
    return (yield from chat_app(tag, lambda history: [SYSTEM, *history]))


SHAPES: dict[str, Callable[..., Conversation]] = {
    "full history": full_history,
    "system prompt changes": system_changes,
    "sliding window (last 6)": window,
    "summary after turn 3": summary,
    "RAG-wrapped user message": rag,
    "tool loop, steps not stored": tool_loop,
    "regeneration": regenerate,
    "retry after a 500": retry_failed,
    "streamed (docs idiom)": stream,
    "n=2, continues with choice 2": n2,
    "identical openers, user=": user_field,
    "identical openers, anonymous": anonymous_identical,
}
REPORTED_ONLY = {"identical openers, anonymous"}  # completeness reported, not a target


# --- the worker: an instrumented process (or the main one) making the calls -----------------------------

_oa: Any = None


def init_worker(collector_url: str, store: str | None, base_url: str) -> None:
    global _oa
    from openai import OpenAI

    import align_instrument as align

    options: dict[str, Any] = {"host": collector_url, "flush_interval": 0.05}
    if store:
        options["session_store"] = store
    align.autoinstrument(**options)
    _oa = OpenAI(base_url=base_url, api_key="bench", max_retries=0)


def run_request(spec: Spec) -> Result:
    import openai

    kwargs: dict[str, Any] = {"model": "local", "messages": spec["messages"]}
    if spec.get("seed") is not None:
        kwargs["seed"] = spec["seed"]
    if spec.get("user"):
        kwargs["user"] = spec["user"]
    if spec.get("tools"):
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ]
    if spec.get("fault"):
        try:
            _oa.chat.completions.create(**kwargs, extra_headers={"x-fault-status": "500"})
        except openai.InternalServerError:
            return {}
        raise AssertionError("the fault was not injected")
    mode = spec.get("mode")
    if mode == "stream":  # OpenAI's documented idiom: the stream is never bound to a name
        return {
            "text": "".join(
                c.choices[0].delta.content or "" for c in _oa.chat.completions.create(**kwargs, stream=True)
            )
        }
    if mode == "n2":
        completion = _oa.chat.completions.create(**kwargs, n=2)
        return {"texts": [c.message.content or "" for c in completion.choices]}
    message = _oa.chat.completions.create(**kwargs).choices[0].message
    if message.tool_calls:
        return {"message": message.model_dump(exclude_none=True)}
    return {"text": message.content or ""}


def finish_worker() -> dict[str, Any]:
    import align_instrument as align

    client = align.autoinstrument()
    stats = client.stats()
    align.uninstrument()
    client.close(10)
    return stats


# --- the driver ------------------------------------------------------------------------------------------


def drive(conversations: dict[str, Conversation], executors: list[Executor]) -> dict[str, Expected]:
    """Advance every conversation one request per round; a round's requests run concurrently,
    request i of round r on executor (i + r) % len(executors)."""
    expected: dict[str, Expected] = {}
    pending: dict[str, Spec] = {}
    for key, conversation in conversations.items():
        pending[key] = next(conversation)
    round_number = 0
    while pending:
        futures: dict[str, Future[Result]] = {}
        for i, (key, spec) in enumerate(pending.items()):
            futures[key] = executors[(i + round_number) % len(executors)].submit(run_request, spec)
        pending = {}
        for key, future in futures.items():
            try:
                pending[key] = conversations[key].send(future.result())
            except StopIteration as done:
                expected[key] = done.value
        round_number += 1
    return expected


TAG = re.compile(r"\[(?P<shape>[a-z0-9_]+) c(?P<n>\d+)\]")


def evaluate(
    store: Any, expected: dict[str, Expected], shape_of: dict[str, str]
) -> dict[str, dict[str, Any]]:
    sessions = {s.session_id: s for s in store.sessions()}
    transcripts = {
        sid: [(m.index, m.role, m.content) for m in store.session(sid).messages] for sid in sessions
    }
    # duplicates: a (session, index) sent more than once
    sent = Counter(
        (
            e["properties"]["messageProperties"]["sessionId"],
            e["properties"]["messageProperties"]["messageIndexHint"],
        )
        for e in store.events()
        if e["type"] == "message_create"
    )
    duplicates_by_session = Counter(sid for (sid, _), n in sent.items() if n > 1 for _ in range(n - 1))
    # which conversations each session holds (by tag)
    holds: dict[str, set[str]] = {}
    for sid, transcript in transcripts.items():
        holds[sid] = {m.group(0) for _, _, text in transcript for m in TAG.finditer(text)}
    by_conversation: dict[str, list[str]] = defaultdict(list)
    for sid, tags in holds.items():
        for tag in tags:
            by_conversation[tag].append(sid)
    shape_name = {fn.__name__: name for name, fn in SHAPES.items()}
    rows: dict[str, dict[str, Any]] = {name: Counter() for name in SHAPES}  # type: ignore[misc]
    for sid, tags in holds.items():
        shapes = {shape_name[TAG.match(t).group("shape")] for t in tags}  # type: ignore[union-attr]
        if not shapes:
            continue  # only the look-alike opener ("Hi" and a reply): attributed to no shape
        for name in shapes:
            rows[name]["sessions"] += 1
            rows[name]["pure"] += len(tags) == 1
            rows[name]["duplicates"] += duplicates_by_session[sid]
    received_texts = Counter(text for t in transcripts.values() for _, role, text in t if role == "assistant")
    for tag, truth in expected.items():
        row = rows[shape_of[tag]]
        row["conversations"] += 1
        want = [(i + 1, role, text) for i, (role, text) in enumerate(truth)]
        holders = by_conversation.get(tag, [])
        row["complete"] += len(holders) == 1 and transcripts[holders[0]] == want  # one session, exact
        main = max(holders, key=lambda sid: len(set(transcripts[sid]) & set(want)), default=None)
        found = set(transcripts[main]) if main else set()
        row["expected"] += len(want)
        row["at_index"] += sum(1 for m in want if m in found)
        for _, role, text in want:
            if role == "assistant":
                if received_texts[text] > 0:
                    received_texts[text] -= 1
                else:
                    row["missing"] += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=20, help="per shape (default 20)")
    parser.add_argument("--threads", type=int, default=4, help="in-process threads (default 4)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes instead of threads")
    parser.add_argument(
        "--store", default=None, help="'redis' (a temporary redis-server), a redis:// URL, or 'memory'"
    )
    args = parser.parse_args()

    root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(root), str(root / "tests")]
    from align_instrument.collector import start_collector
    from align_instrument.local_llm import start_local_llm

    workdir = Path(tempfile.mkdtemp(prefix="align-fidelity-"))
    collector = start_collector(port=0, db_path=str(workdir / "fidelity.db"))
    llm = start_local_llm()
    redis_server = None
    store: str | None = None if args.store in (None, "memory") else args.store
    if args.store == "redis":
        from redis_server import RedisServer

        redis_server = RedisServer(workdir)
        redis_server.start()
        store = redis_server.url

    conversations: dict[str, Conversation] = {}
    shape_of: dict[str, str] = {}
    for number, (name, make) in enumerate(SHAPES.items()):
        for n in range(args.conversations):
            tag = f"[{make.__name__} c{n}]"
            seed = number * 1000 + n + 1
            conversations[tag] = make(tag, seed, conversation=n)
            shape_of[tag] = name
    init = (collector.url, store, llm.base_url)
    executors: list[Executor]
    if args.workers:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        executors = [
            ProcessPoolExecutor(1, mp_context=context, initializer=init_worker, initargs=init)
            for _ in range(args.workers)
        ]
        mode = f"{args.workers} worker processes, store: {args.store or 'memory (each its own)'}"
    else:
        init_worker(*init)
        executors = [ThreadPoolExecutor(args.threads)]
        mode = f"1 process, {args.threads} threads, store: {args.store or 'memory'}"
    started = time.monotonic()
    expected = drive(conversations, executors)
    elapsed = time.monotonic() - started
    calls = 0
    if args.workers:
        for executor in executors:
            executor.submit(finish_worker).result()
            executor.shutdown()
    else:
        finish_worker()
        executors[0].shutdown()
    calls = sum(1 for e in collector.store.events() if e["type"] == "message_create")
    rows = evaluate(collector.store, expected, shape_of)

    print(f"\n{len(conversations)} conversations, {mode}; {calls} messages in {elapsed:.1f} s\n")
    columns = ("conversations", "sessions", "purity", "completeness", "index accuracy", "replies missing")
    print(f"| shape | {' | '.join(columns)} | duplicates |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    failed = []
    for name, row in rows.items():
        purity = row["pure"] / row["sessions"] if row["sessions"] else 1.0
        completeness = row["complete"] / row["conversations"] if row["conversations"] else 0.0
        accuracy = row["at_index"] / row["expected"] if row["expected"] else 0.0
        note = " (reported)" if name in REPORTED_ONLY else ""
        counts = f"| {name} | {row['conversations']} | {row['sessions']} "
        rates = f"| {purity:.3f} | {completeness:.3f}{note} | {accuracy:.3f}{note} "
        print(f"{counts}{rates}| {row['missing']} | {row['duplicates']} |")
        targets = purity == 1.0 and row["missing"] == 0 and row["duplicates"] == 0
        if name not in REPORTED_ONLY:
            targets = targets and completeness >= 0.99 and accuracy >= 0.99
        if not targets:
            failed.append(name)
    print(
        "\ntargets (purity 1.000, completeness >= 0.99, index accuracy >= 0.99, missing 0, duplicates 0):",
        "met" if not failed else f"NOT met for {', '.join(failed)}",
    )
    collector.stop()
    llm.stop()
    if redis_server is not None:
        redis_server.stop()
    os.environ.pop("ALIGNAI_SESSION_STORE", None)


if __name__ == "__main__":
    main()
