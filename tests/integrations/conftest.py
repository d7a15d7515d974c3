"""Fixtures for the integration tests: the real openai SDK over HTTP against ``local_llm``,
instrumented by ``align.autoinstrument()``, delivering to the real local collector."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

import align_instrument as align
from align_instrument.collector import RunningCollector
from align_instrument.local_llm import RunningLLM, start_local_llm


@pytest.fixture(scope="session")
def llm() -> Iterator[RunningLLM]:
    with start_local_llm() as running:
        yield running


class Harness:
    """An instrumented process: ``client`` (Align), provider clients, and read-back helpers."""

    def __init__(self, collector: RunningCollector, llm: RunningLLM, client: align.AlignClient) -> None:
        self.collector = collector
        self.llm = llm
        self.client = client

    def openai(self, **kwargs: Any) -> OpenAI:
        kwargs.setdefault("api_key", "test-openai-key")
        kwargs.setdefault("max_retries", 0)
        return OpenAI(base_url=self.llm.base_url, **kwargs)

    def async_openai(self, **kwargs: Any) -> AsyncOpenAI:
        kwargs.setdefault("api_key", "test-openai-key")
        kwargs.setdefault("max_retries", 0)
        return AsyncOpenAI(base_url=self.llm.base_url, **kwargs)

    def flush(self) -> None:
        assert self.client.flush(5)

    def transcript(self, session_id: str) -> list[tuple[int, str, str]]:
        self.flush()
        detail = self.collector.store.session(session_id)
        assert detail is not None, f"session {session_id} not found"
        return [(m.index, m.role, m.content) for m in detail.messages]

    def messages(self, session_id: str) -> list[Any]:
        self.flush()
        detail = self.collector.store.session(session_id)
        assert detail is not None
        return list(detail.messages)

    def session_ids(self) -> list[str]:
        self.flush()
        return sorted(s.session_id for s in self.collector.store.sessions())

    def transcripts(self) -> list[list[tuple[int, str, str]]]:
        """Every session's transcript, sorted by content, so tests need not know generated ids."""
        return sorted(self.transcript(sid) for sid in self.session_ids())

    def only_transcript(self) -> list[tuple[int, str, str]]:
        ids = self.session_ids()
        assert len(ids) == 1, f"expected one session, got {len(ids)}: {self.transcripts()}"
        return self.transcript(ids[0])

    def event_types(self) -> list[str]:
        self.flush()
        return [e["type"] for e in self.collector.store.events()]


@pytest.fixture
def harness(
    collector: RunningCollector, llm: RunningLLM, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    """autoinstrument() against the test collector; options via ``@pytest.mark.align(...)``."""
    marker = request.node.get_closest_marker("align")
    options: dict[str, Any] = {"flush_interval": 0.05}
    if marker is not None:
        options.update(marker.kwargs)
    align.uninstrument()
    client = align.autoinstrument(host=collector.url, **options)
    try:
        yield Harness(collector, llm, client)
    finally:
        align.uninstrument()
        client.close(2)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "align(**options): options for the harness's autoinstrument()")
