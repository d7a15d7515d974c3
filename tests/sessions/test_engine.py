"""The session engine on its own: real AlignClient, real local collector, no provider SDK."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import align_instrument as align
from align_instrument.collector import RunningCollector
from align_instrument.sessions import (
    ASSISTANT,
    TOOL_CALLS,
    TOOL_RESULT,
    USER,
    ChatItem,
    InMemorySessionStore,
    MessageRef,
    SessionEngine,
    current_scope,
    session,
)


class Env:
    def __init__(self, collector: RunningCollector) -> None:
        self.collector = collector
        self.client = align.AlignClient(host=collector.url, flush_interval=0.05)
        self.engines: list[SessionEngine] = []

    def engine(self, **kwargs: Any) -> SessionEngine:
        engine = SessionEngine(self.client, **kwargs)
        self.engines.append(engine)
        return engine

    def transcript(self, session_id: str) -> list[tuple[int, str, str]]:
        assert self.client.flush(5)
        detail = self.collector.store.session(session_id)
        assert detail is not None
        return [(m.index, m.role, m.content) for m in detail.messages]

    def types(self) -> list[str]:
        assert self.client.flush(5)
        return [e["type"] for e in self.collector.store.events()]


@pytest.fixture
def env(collector: RunningCollector) -> Iterator[Env]:
    e = Env(collector)
    yield e
    for engine in e.engines:
        engine.close()
    e.client.close(2)


def u(text: str) -> ChatItem:
    return ChatItem(USER, text)


def a(text: str) -> ChatItem:
    return ChatItem(ASSISTANT, text)


def turn(engine: SessionEngine, items: list[ChatItem], reply: str, **kwargs: Any) -> MessageRef | None:
    t = engine.begin_turn(partition="p", messages=items, **kwargs)
    return engine.end_turn(t, reply)


def test_tool_steps_thread_but_are_not_logged(env: Env) -> None:
    engine = env.engine()
    history = [u("weather in Oslo?")]
    t1 = engine.begin_turn(partition="p", messages=history)
    assert engine.end_turn(t1, None, tool_call_ids=["call_1"]) is None  # only tool calls: not logged
    history += [ChatItem(TOOL_CALLS, "call_1"), ChatItem(TOOL_RESULT, "call_1")]
    ref = turn(engine, history, "It is sunny.")
    assert ref is not None and ref.message_index == 2
    assert env.transcript(ref.session_id) == [
        (1, "user", "weather in Oslo?"),
        (2, "assistant", "It is sunny."),
    ]


def test_overflow_closes_the_least_recently_active_session(env: Env) -> None:
    engine = env.engine(store=InMemorySessionStore(60, max_sessions=2))
    refs = [turn(engine, [u(f"conversation {i}")], f"reply {i}") for i in range(3)]
    assert all(r is not None for r in refs)
    assert env.types().count("session_close") == 1
    first = refs[0]
    assert first is not None and env.collector.store.session(first.session_id).closed


def test_one_scheduler_thread_closes_every_idle_session(env: Env) -> None:
    engine = env.engine(session_timeout=0.3)
    before = {t.name for t in threading.enumerate()}
    for i in range(20):
        turn(engine, [u(f"idle {i}")], "ok")
    ours = [t for t in threading.enumerate() if t.name == "align-sessions"]
    assert len(ours) <= len([n for n in before if n == "align-sessions"]) + 1
    deadline = time.monotonic() + 5
    while env.types().count("session_close") < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.types().count("session_close") == 20


def test_regeneration_is_logged_at_the_next_index_and_either_variant_continues(env: Env) -> None:
    engine = env.engine()
    history = [u("hi")]
    first = turn(engine, history, "first take")
    history += [a("first take"), u("more")]
    turn(engine, history, "second")
    again = turn(engine, history, "second, regenerated")
    assert first is not None and again is not None and again.message_index == 5
    assert engine.stats()["regenerated"] == 1
    turn(engine, [*history, a("second, regenerated"), u("and then")], "done")
    assert env.transcript(first.session_id) == [
        (1, "user", "hi"),
        (2, "assistant", "first take"),
        (3, "user", "more"),
        (4, "assistant", "second"),
        (5, "assistant", "second, regenerated"),
        (6, "user", "and then"),
        (7, "assistant", "done"),
    ]
    detail = env.collector.store.session(first.session_id)
    assert detail.messages[4].custom_properties["regenerates"] == "4"


def test_previous_response_chain_regeneration_and_conversation_repeats(env: Env) -> None:
    engine = env.engine()
    first = engine.begin_turn(partition="p", messages=[u("hi")])
    engine.end_turn(first, "hello", response_id="resp_1")
    for take in ("take 1", "take 2"):  # the same input after the same response: a regeneration
        t = engine.begin_turn(partition="p", messages=[u("more")], previous_response_id="resp_1", delta=True)
        engine.end_turn(t, take, response_id=f"resp_{take}")
    t = engine.begin_turn(partition="p", messages=[u("yes")], session_id="conv_9", delta=True)
    engine.end_turn(t, "ok")
    t = engine.begin_turn(partition="p", messages=[u("yes")], session_id="conv_9", delta=True)
    engine.end_turn(t, "done")  # a repeated input in a conversation is a new turn
    assert env.transcript(first.session_id) == [
        (1, "user", "hi"),
        (2, "assistant", "hello"),
        (3, "user", "more"),
        (4, "assistant", "take 1"),
        (5, "assistant", "take 2"),
    ]
    assert env.transcript("conv_9") == [
        (1, "user", "yes"),
        (2, "assistant", "ok"),
        (3, "user", "yes"),
        (4, "assistant", "done"),
    ]


def test_conversation_delta_mode_retry_and_long_ids(env: Env) -> None:
    engine = env.engine()
    long_id = "conv_" + "x" * 80
    t = engine.begin_turn(partition="p", messages=[u("one")], session_id=long_id, delta=True)
    engine.fail_turn(t)
    t = engine.begin_turn(partition="p", messages=[u("one")], session_id=long_id, delta=True)  # the retry
    engine.end_turn(t, "reply one")
    turn(engine, [u("two")], "reply two", session_id=long_id, delta=True)
    assert len(t.session_id) <= 64 and t.session_id.startswith("h_")
    assert env.transcript(t.session_id) == [
        (1, "user", "one"),
        (2, "assistant", "reply one"),
        (3, "user", "two"),
        (4, "assistant", "reply two"),
    ]


def test_register_ref_and_feedback_by_run_id(env: Env) -> None:
    engine = env.engine()
    ref = turn(engine, [u("rate this")], "a reply")
    assert ref is not None
    run_id = uuid.uuid4()
    engine.register_ref(str(run_id), ref)
    assert engine.message_ref(str(run_id)) == ref
    engine.send_feedback(ref, "thumbs_down", key=str(run_id))
    assert env.client.flush(5)
    detail = env.collector.store.session(ref.session_id)
    assert [(m.index, [f.type for f in m.feedback]) for m in detail.messages] == [
        (1, []),
        (2, ["thumbs_down"]),
    ]


def test_redact_applies_to_every_message(env: Env) -> None:
    engine = env.engine(redact=lambda text, role: f"[{role}] {text.upper()}")
    ref = turn(engine, [u("secret")], "reply")
    assert ref is not None
    assert env.transcript(ref.session_id) == [
        (1, "user", "[user] SECRET"),
        (2, "assistant", "[assistant] REPLY"),
    ]


def test_close_closes_sessions(env: Env) -> None:
    engine = env.engine()
    ref = turn(engine, [u("bye")], "goodbye")
    engine.close()
    assert ref is not None
    assert env.transcript(ref.session_id)[-1] == (2, "assistant", "goodbye")
    assert env.types().count("session_close") == 1


def test_scope_contexts() -> None:
    seen: list[Any] = []

    @session("agen")
    async def agen():  # type: ignore[no-untyped-def]
        yield current_scope().session_id  # type: ignore[union-attr]
        yield current_scope().session_id  # type: ignore[union-attr]

    async def main() -> None:
        async for item in agen():
            seen.append(item)
            seen.append(current_scope())
        with session("outer"):
            seen.append(await asyncio.create_task(asyncio.sleep(0, current_scope().session_id)))  # type: ignore[union-attr]
            with session("inner"):
                seen.append(current_scope().session_id)  # type: ignore[union-attr]
            seen.append(current_scope().session_id)  # type: ignore[union-attr]

    asyncio.run(main())
    assert seen == ["agen", None, "agen", None, "outer", "inner", "outer"]
    with session("threaded"):
        ctx = contextvars.copy_context()
    result: list[Any] = []
    worker = threading.Thread(target=ctx.run, args=(lambda: result.append(current_scope().session_id),))  # type: ignore[union-attr]
    worker.start()
    worker.join()
    assert result == ["threaded"]
    with pytest.raises(align.ValidationError, match="session_id is required"):
        session("")
    long_scope = session("conversation:" + "x" * 80, user_id="u" * 70)
    assert long_scope.scope.session_id.startswith("h_") and len(long_scope.scope.session_id) == 34
    assert long_scope.scope.session_id == session("conversation:" + "x" * 80).scope.session_id  # stable
    assert long_scope.scope.user_id is not None and long_scope.scope.user_id.startswith("h_")
