"""Shared helpers for the LangChain tests: an explicit Align client on the real collector, readers
of what the collector stored, a small chat history backend, and a real tool for agent loops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.tools import tool

import align_instrument as align
from align_instrument.collector import RunningCollector
from align_instrument.integrations.langchain import _handler


class Reader:
    """Reads back from the collector what an Align client delivered."""

    def __init__(self, collector: RunningCollector, client: align.AlignClient) -> None:
        self.collector = collector
        self.client = client

    def flush(self) -> None:
        assert self.client.flush(5)

    def transcript(self, session_id: str) -> list[tuple[int, str, str]]:
        self.flush()
        detail = self.collector.store.session(session_id)
        assert detail is not None, f"session {session_id} not found; have {self.session_ids()}"
        return [(m.index, m.role, m.content) for m in detail.messages]

    def session_ids(self) -> list[str]:
        self.flush()
        return sorted(s.session_id for s in self.collector.store.sessions())

    def transcripts(self) -> list[list[tuple[int, str, str]]]:
        """Every session's transcript, sorted, so tests need not know generated ids."""
        return sorted(self.transcript(sid) for sid in self.session_ids())

    def user_of(self, session_id: str) -> str | None:
        self.flush()
        detail = self.collector.store.session(session_id)
        assert detail is not None
        return detail.user_id

    def event_types(self) -> list[str]:
        self.flush()
        return [e["type"] for e in self.collector.store.events()]

    def feedback(self, session_id: str) -> list[tuple[int | None, str]]:
        self.flush()
        detail = self.collector.store.session(session_id)
        assert detail is not None
        return [(f.message_index, f.type) for m in detail.messages for f in m.feedback]


@pytest.fixture
def align_client(collector: RunningCollector) -> Iterator[align.AlignClient]:
    """An explicit client (no autoinstrument) on the test collector; its handler engine is closed after."""
    align.uninstrument()
    client = align.AlignClient(host=collector.url, flush_interval=0.05)
    try:
        yield client
    finally:
        engine = _handler._engines.pop(client, None)
        if engine is not None:
            engine.close(close_sessions=False)
        client.close(2)


@pytest.fixture
def reader(collector: RunningCollector, align_client: align.AlignClient) -> Reader:
    return Reader(collector, align_client)


class ListHistory(BaseChatMessageHistory):
    """A plain list-backed chat history (LangChain's in-memory one is deprecated in 1.x)."""

    def __init__(self, messages: Sequence[BaseMessage] = ()) -> None:
        self.stored: list[BaseMessage] = list(messages)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        return list(self.stored)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self.stored.extend(messages)

    def clear(self) -> None:
        self.stored = []


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"sunny and 21C in {city}"


def run_tool_loop(model: Any, messages: list[BaseMessage], config: Any = None, max_steps: int = 5) -> Any:
    """A minimal agent loop: call the tool-bound model, run the tools it asks for, until it answers."""
    from langchain_core.messages import ToolMessage

    bound = model.bind_tools([get_weather])
    for _ in range(max_steps):
        reply = bound.invoke(messages, config=config)
        messages.append(reply)
        if not reply.tool_calls:
            return reply
        for call in reply.tool_calls:
            result = get_weather.invoke(call["args"])
            messages.append(ToolMessage(content=str(result), tool_call_id=call["id"]))
    raise AssertionError("the agent loop did not finish")


async def arun_tool_loop(model: Any, messages: list[BaseMessage], config: Any = None) -> Any:
    """:func:`run_tool_loop`, async."""
    from langchain_core.messages import ToolMessage

    bound = model.bind_tools([get_weather])
    for _ in range(5):
        reply = await bound.ainvoke(messages, config=config)
        messages.append(reply)
        if not reply.tool_calls:
            return reply
        for call in reply.tool_calls:
            result = await get_weather.ainvoke(call["args"])
            messages.append(ToolMessage(content=str(result), tool_call_id=call["id"]))
    raise AssertionError("the agent loop did not finish")
