"""AlignChatMemory: the official SDK's ChatMemory contract (open the session, log each user and
assistant message put into the memory with its index, identify_user, close), with the index kept
instead of recounted, never breaking the memory, and not doubled under autoinstrument()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import ChatMemoryBuffer

import align_instrument as align
from align_instrument.llamaindex import AlignChatMemory


@pytest.fixture
def client(collector):  # type: ignore[no-untyped-def]
    align_client = align.AlignClient(host=collector.url, flush_interval=0.05)
    yield align_client
    align_client.close(2)


def _transcript(collector, client, session_id: str) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    assert client.flush(5)
    detail = collector.store.session(session_id)
    assert detail is not None
    return [(m.index, m.role, m.content) for m in detail.messages]


class CountingBuffer(ChatMemoryBuffer):
    """Counts reads of the whole history (the official ChatMemory re-reads it on every put)."""

    reads: int = 0

    def get_all(self) -> list[ChatMessage]:
        self.reads += 1
        return super().get_all()


def test_parity_open_identify_log_and_close(collector, client) -> None:  # type: ignore[no-untyped-def]
    memory = AlignChatMemory(
        ChatMemoryBuffer.from_defaults(),
        client,
        "mem-1",
        "user-1",
        user_info={"display_name": "Ada", "email": None},
    )
    memory.put(ChatMessage(role=MessageRole.SYSTEM, content="not logged"))
    memory.put(ChatMessage(role=MessageRole.USER, content="Hi"))
    tool_step = ChatMessage(
        role=MessageRole.ASSISTANT, blocks=[ToolCallBlock(tool_call_id="c1", tool_name="lookup")]
    )
    memory.put(tool_step)  # a tool-call step without text: stored, not logged
    memory.put(ChatMessage(role=MessageRole.TOOL, content="result", additional_kwargs={"tool_call_id": "c1"}))
    memory.put_messages(
        [
            ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text="Hello!")]),
            ChatMessage(role=MessageRole.USER, content="Bye"),
        ]
    )
    assert [m.content for m in memory.get_all()][-2:] == ["Hello!", "Bye"]
    assert len(memory.get()) == 6
    memory.close()
    memory.close()  # idempotent
    memory.put(ChatMessage(role=MessageRole.ASSISTANT, content="after close"))  # stored, not logged
    assert _transcript(collector, client, "mem-1") == [
        (1, "user", "Hi"),
        (2, "assistant", "Hello!"),
        (3, "user", "Bye"),
    ]
    detail = collector.store.session("mem-1")
    assert (detail.user_id, detail.closed) == ("user-1", True)
    assert collector.store.user("user-1").display_name == "Ada"
    assert memory.get_all()[-1].content == "after close"


def test_index_is_counted_once_and_continues_a_persisted_history(collector, client) -> None:  # type: ignore[no-untyped-def]
    backend = CountingBuffer.from_defaults(
        chat_history=[
            ChatMessage(role="user", content="earlier"),
            ChatMessage(role="assistant", content="answer"),
        ]
    )
    memory = AlignChatMemory(backend, client, "mem-2", "user-2")
    reads = backend.reads
    for i in range(20):
        memory.put(ChatMessage(role="user", content=f"question {i}"))
    assert backend.reads == reads  # no recount per put
    transcript = _transcript(collector, client, "mem-2")
    assert transcript[0] == (3, "user", "question 0") and transcript[-1] == (22, "user", "question 19")


def test_async_puts_and_attributes_of_the_wrapped_memory(collector, client) -> None:  # type: ignore[no-untyped-def]
    buffer = ChatMemoryBuffer.from_defaults(token_limit=1234)
    memory = AlignChatMemory(buffer, client, "mem-3", "user-3")
    assert memory.token_limit == 1234  # a chat engine may read the buffer's attributes

    async def run() -> None:
        await memory.aput(ChatMessage(role="user", content="async hi"))
        await memory.aput_messages([ChatMessage(role="assistant", content="async hello")])
        assert len(await memory.aget_all()) == 2

    asyncio.run(run())
    memory.reset()
    memory.put(ChatMessage(role="user", content="after reset"))  # numbering continues
    assert _transcript(collector, client, "mem-3") == [
        (1, "user", "async hi"),
        (2, "assistant", "async hello"),
        (3, "user", "after reset"),
    ]


def test_invalid_ids_raise_and_client_errors_never_break_put(collector, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(align.ValidationError):
        AlignChatMemory(ChatMemoryBuffer.from_defaults(), client, "x" * 65, "user")
    memory = AlignChatMemory(ChatMemoryBuffer.from_defaults(), client, "mem-4", "user-4")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("client bug")

    monkeypatch.setattr(client, "create_message", broken)
    memory.put(ChatMessage(role="user", content="kept"))
    assert memory.get_all()[0].content == "kept"
    assert client.stats()["internal_errors"] == {"llamaindex_memory_log": 1}


def test_chat_engine_with_align_memory_under_autoinstrument_is_logged_once(harness) -> None:  # type: ignore[no-untyped-def]
    llm = MockLLM(max_tokens=2)
    memory = AlignChatMemory(ChatMemoryBuffer.from_defaults(llm=llm), harness.client, "mem-5", "user-5")
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    engine.chat("one")
    "".join(engine.stream_chat("two").response_gen)
    assert harness.session_ids() == ["mem-5"]
    assert harness.transcript("mem-5") == [
        (1, "user", "one"),
        (2, "assistant", "text text"),
        (3, "user", "two"),
        (4, "assistant", "text text"),
    ]
