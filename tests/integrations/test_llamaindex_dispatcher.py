"""LlamaIndex chat engines and LLM calls under autoinstrument(), through the instrumentation
dispatcher, with LlamaIndex's MockLLM (no provider SDK underneath): sessions from the engine's
memory, a scope, or implicit threading; streams finalised; errors reaching the app unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, CompletionResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.memory import ChatMemoryBuffer, Memory
from llama_index.core.prompts import PromptTemplate

import align_instrument as align

REPLY = "text text text"  # MockLLM(max_tokens=3)


def _engine(memory: Any = None) -> SimpleChatEngine:
    llm = MockLLM(max_tokens=3)
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory or ChatMemoryBuffer.from_defaults(llm=llm))


def _expected(texts: Sequence[str]) -> list[tuple[int, str, str]]:
    out = []
    for i, text in enumerate(texts):
        out += [(2 * i + 1, "user", text), (2 * i + 2, "assistant", REPLY)]
    return out


def test_chat_engine_turns_sync_async_and_streamed_are_one_session(harness) -> None:  # type: ignore[no-untyped-def]
    engine = _engine()
    assert str(engine.chat("Hello there")) == REPLY
    assert "".join(engine.stream_chat("Streamed turn").response_gen) == REPLY

    async def run() -> None:
        assert str(await engine.achat("Async turn")) == REPLY
        response = await engine.astream_chat("Async streamed")
        assert "".join([token async for token in response.async_response_gen()]) == REPLY

    asyncio.run(run())
    assert harness.only_transcript() == _expected(
        ["Hello there", "Streamed turn", "Async turn", "Async streamed"]
    )
    assert harness.client.stats()["internal_errors"] == {}


def test_memory_session_id_names_the_session(harness) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(Memory.from_defaults(session_id="li-support-1"))
    engine.chat("first")
    engine.chat("second")
    assert harness.transcript("li-support-1") == _expected(["first", "second"])
    assert harness.session_ids() == ["li-support-1"]


def test_chat_store_key_names_the_session(harness) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(ChatMemoryBuffer.from_defaults(chat_store_key="user-7-chat"))
    engine.chat("keyed")
    assert harness.transcript("user-7-chat") == _expected(["keyed"])


def test_scope_wins_over_memory(harness) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(Memory.from_defaults(session_id="from-memory"))
    with align.session("from-scope", user_id="user-9"):
        engine.chat("scoped")
    assert harness.session_ids() == ["from-scope"]
    assert harness.collector.store.session("from-scope").user_id == "user-9"


def test_two_engines_with_their_own_memories_stay_apart(harness) -> None:  # type: ignore[no-untyped-def]
    a, b = _engine(Memory.from_defaults(session_id="a")), _engine(Memory.from_defaults(session_id="b"))
    for turn in ("hello", "again"):
        a.chat(turn)
        b.chat(turn)
    assert harness.transcript("a") == harness.transcript("b") == _expected(["hello", "again"])


def test_direct_llm_chat_is_captured_and_predict_is_not_a_turn(harness) -> None:  # type: ignore[no-untyped-def]
    llm = MockLLM(max_tokens=3)
    history = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="direct")]
    reply = llm.chat(history)
    llm.chat([*history, reply.message, ChatMessage(role="user", content="follow-up")])
    llm.predict(PromptTemplate("Condense {question}"), question="this")  # a prompt, not a conversation
    assert harness.only_transcript() == _expected(["direct", "follow-up"])


def test_abandoned_llm_stream_logs_partial_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    llm = MockLLM(max_tokens=5)
    stream = llm.stream_chat([ChatMessage(role="user", content="stream please")])
    next(stream)
    next(stream)
    stream.close()
    [user, reply] = harness.messages(harness.session_ids()[0])
    assert (user.content, reply.content) == ("stream please", "text text ")  # the two deltas read
    assert reply.custom_properties["incomplete"] == "true"


class FailingLLM(MockLLM):
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise ConnectionError("provider down")


def test_llm_error_reaches_the_app_and_the_user_message_is_kept(harness) -> None:  # type: ignore[no-untyped-def]
    engine = SimpleChatEngine.from_defaults(llm=FailingLLM())
    with pytest.raises(ConnectionError, match="provider down"):
        engine.chat("will fail")
    assert harness.only_transcript() == [(1, "user", "will fail")]
    assert harness.client.stats()["internal_errors"] == {}


def test_uninstrument_removes_the_handlers(harness) -> None:  # type: ignore[no-untyped-def]
    from llama_index.core.instrumentation import get_dispatcher

    root = get_dispatcher()
    names = lambda: [type(h).__name__ for h in [*root.span_handlers, *root.event_handlers]]  # noqa: E731
    assert "AlignEventHandler" in names() and "AlignSpanHandler" in names()
    align.uninstrument()
    assert "AlignEventHandler" not in names() and "AlignSpanHandler" not in names()
    _engine().chat("not captured")
    assert harness.session_ids() == []
