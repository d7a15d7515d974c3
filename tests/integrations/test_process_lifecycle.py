"""An instrumented app's shutdown and fork, as servers do them: client.close() / uninstrument() /
plain exit deliver the session closes; fork() while threads are inside instrumented calls never
hangs the child, and the child never sends or closes its parent's state."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from typing import Any

import pytest
from openai_helpers import assistant, user

import align_instrument as align
from align_instrument.collector import RunningCollector
from align_instrument.local_llm import RunningLLM


def two_conversations(harness: Any) -> None:
    oa = harness.openai()
    for opener in ("first conversation", "second conversation"):
        history: list[Any] = [user(opener)]
        history += [
            assistant(
                oa.chat.completions.create(model="local", messages=history).choices[0].message.content or ""
            )
        ]


@pytest.mark.parametrize("how", ["client.close", "uninstrument then close"])
def test_close_at_shutdown_delivers_the_session_closes(harness, how: str) -> None:  # type: ignore[no-untyped-def]
    two_conversations(harness)
    if how == "uninstrument then close":
        align.uninstrument()
    assert harness.client.close(5) is True
    stats = harness.client.stats()
    assert stats["dropped"] == {}
    types = Counter(e["type"] for e in harness.collector.store.events())
    assert types["session_close"] == 2 and types["session_open"] == 2


def run_app(script: str, collector: RunningCollector, llm: RunningLLM, timeout: float = 60) -> str:
    env = {
        **os.environ,
        "ALIGNAI_HOST": collector.url,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "k",
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_exit_without_close_delivers_messages_and_closes(
    collector: RunningCollector, llm: RunningLLM
) -> None:
    run_app(
        """
        import align_instrument as align
        from openai import OpenAI
        align.autoinstrument(flush_interval=60)
        OpenAI().chat.completions.create(model="local", messages=[{"role": "user", "content": "bye"}])
        """,
        collector,
        llm,
    )
    types = [e["type"] for e in collector.store.events()]
    assert types == ["session_open", "message_create", "message_create", "session_close"]


FORK_APP = """
import faulthandler, os, sys, threading, time
import align_instrument as align
from openai import OpenAI

align.autoinstrument(flush_interval=0.05)
oa = OpenAI(max_retries=0)
stop = threading.Event()

def busy(n):  # threads that are inside instrumented calls whenever the process forks
    history = [{"role": "user", "content": f"parent thread {n}"}]
    while not stop.is_set():
        reply = oa.chat.completions.create(model="local", messages=history[-3:], seed=n)
        history += [{"role": "assistant", "content": reply.choices[0].message.content},
                    {"role": "user", "content": f"parent thread {n} turn {len(history)}"}]

threads = [threading.Thread(target=busy, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
time.sleep(0.3)
children, hung = [], 0
for i in range(CHILDREN):
    pid = os.fork()
    if pid == 0:  # the child: serves one conversation of its own, then exits through atexit
        faulthandler.dump_traceback_later(20, exit=True)  # a hang shows where, then fails
        OpenAI(max_retries=0).chat.completions.create(
            model="local", messages=[{"role": "user", "content": f"child {i}"}]
        )
        sys.exit(0)
    children.append(pid)
    time.sleep(0.01)
deadline = time.monotonic() + 30
for pid in children:
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            hung += 1
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
stop.set()
for t in threads:
    t.join()
print("hung", hung)
"""


def test_fork_with_busy_threads_never_hangs_or_sends_the_parents_state(
    collector: RunningCollector, llm: RunningLLM
) -> None:
    out = run_app(FORK_APP.replace("CHILDREN", "20"), collector, llm, timeout=120)
    assert "hung 0" in out
    events = collector.store.events()
    messages = Counter(
        (
            e["properties"]["messageProperties"]["sessionId"],
            e["properties"]["messageProperties"]["messageIndexHint"],
        )
        for e in events
        if e["type"] == "message_create"
    )
    assert all(count == 1 for count in messages.values())
    closes = Counter(
        e["properties"]["sessionProperties"]["sessionId"] for e in events if e["type"] == "session_close"
    )
    assert all(count == 1 for count in closes.values())
    summaries = collector.store.sessions()
    children = [
        s
        for s in summaries
        if any("child" in m.content for m in collector.store.session(s.session_id).messages)
    ]
    assert len(children) == 20  # each child's own conversation, logged and closed by the child
    for summary in summaries:  # no session mixes a child's conversation with the parent's
        texts = [m.content for m in collector.store.session(summary.session_id).messages if m.role == "user"]
        assert all("child" in t for t in texts) or not any("child" in t for t in texts)
