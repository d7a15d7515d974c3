"""Every captured anthropic path x sync/async x success/4xx/5xx: one session, the user message
always, the reply when there is one, and provider errors reaching the app unchanged."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from anthropic_helpers import PATHS, acall, anthropic_client, async_anthropic_client, call

OUTCOMES = {
    "ok": None,
    "400": anthropic.BadRequestError,
    "429": anthropic.RateLimitError,
    "500": anthropic.InternalServerError,
    "529": anthropic.OverloadedError,
}


def _model(outcome: str) -> str:
    return "claude-local" if outcome == "ok" else f"error-{outcome}"


def _check(harness, path: str, outcome: str, text: str, reply: str | None) -> None:  # type: ignore[no-untyped-def]
    transcript = harness.only_transcript()
    if outcome != "ok":
        assert transcript == [(1, "user", text)]
        return
    assert reply == f"You said: {text}"
    assert transcript == [(1, "user", text), (2, "assistant", reply)]
    props = harness.messages(harness.session_ids()[0])[1].custom_properties
    assert props["model"] == "claude-local"
    assert props["finish_reason"] == "end_turn"
    assert int(props["latency_ms"]) >= 0
    assert int(props["input_tokens"]) > 0 and int(props["output_tokens"]) == len(reply.split())
    assert "incomplete" not in props


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize("path", PATHS)
def test_sync_paths(harness, path: str, outcome: str) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    text = f"sync {path} {outcome}"
    reply = None
    expected = OUTCOMES[outcome]
    if expected is None:
        reply = call(client, path, _model(outcome), text)
    else:
        with pytest.raises(expected) as caught:
            call(client, path, _model(outcome), text)
        assert type(caught.value) is expected
        assert caught.value.status_code == int(outcome)
    _check(harness, path, outcome, text, reply)
    assert harness.client.stats()["internal_errors"] == {}


@pytest.mark.parametrize("outcome", ["ok", "400", "500"])
@pytest.mark.parametrize("path", PATHS)
def test_async_paths(harness, path: str, outcome: str) -> None:  # type: ignore[no-untyped-def]
    async def run() -> str | None:
        async with async_anthropic_client(harness.llm) as client:
            if outcome == "ok":
                return await acall(client, path, _model(outcome), text)
            with pytest.raises(OUTCOMES[outcome]):
                await acall(client, path, _model(outcome), text)
            return None

    text = f"async {path} {outcome}"
    _check(harness, path, outcome, text, asyncio.run(run()))
    assert harness.client.stats()["internal_errors"] == {}


def test_client_built_before_autoinstrument_is_captured(collector, llm) -> None:  # type: ignore[no-untyped-def]
    import align_instrument as align

    align.uninstrument()
    client = anthropic_client(llm)  # built first, as apps do at import time
    align_client = align.autoinstrument(host=collector.url, flush_interval=0.05)
    try:
        call(client, "create", "claude-local", "built before")
        assert align_client.flush(5)
        [session] = collector.store.sessions()
        detail = collector.store.session(session.session_id)
        assert [(m.role, m.content) for m in detail.messages] == [
            ("user", "built before"),
            ("assistant", "You said: built before"),
        ]
    finally:
        align.uninstrument()
        align_client.close(2)
    call(client, "create", "claude-local", "after uninstrument")  # restored: nothing captured
    assert len(collector.store.sessions()) == 1


def test_uninstrument_restores_the_original_request_methods(harness) -> None:  # type: ignore[no-untyped-def]
    from anthropic._base_client import AsyncAPIClient, SyncAPIClient

    import align_instrument as align

    assert type(SyncAPIClient.__dict__["request"]).__name__ == "FunctionWrapper"
    align.uninstrument()
    assert type(SyncAPIClient.__dict__["request"]).__name__ == "function"
    assert type(AsyncAPIClient.__dict__["request"]).__name__ == "function"


def test_autoinstrument_imports_neither_anthropic_nor_llamaindex_until_the_app_does() -> None:
    import subprocess
    import sys

    script = """
import sys
import align_instrument as align
align.autoinstrument(host="http://127.0.0.1:9")
assert "anthropic" not in sys.modules and "llama_index.core" not in sys.modules
import anthropic  # the app imports it later: patched then
from anthropic._base_client import SyncAPIClient
assert type(SyncAPIClient.__dict__["request"]).__name__ == "FunctionWrapper"
from llama_index.core.instrumentation import get_dispatcher
assert "AlignEventHandler" in [type(h).__name__ for h in get_dispatcher().event_handlers]
align.uninstrument()
assert type(SyncAPIClient.__dict__["request"]).__name__ == "function"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr
