"""Every captured path x sync/async x success/4xx/5xx: one session, the user message always, the
reply when there is one, and provider errors reaching the app unchanged."""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai_helpers import ALL_PATHS, acall, call

OUTCOMES = {
    "ok": None,
    "400": openai.BadRequestError,
    "429": openai.RateLimitError,
    "500": openai.InternalServerError,
}


def _model(outcome: str) -> str:
    return "local" if outcome == "ok" else f"error-{outcome}"


def _check(harness, path: str, outcome: str, text: str, reply: str | None) -> None:  # type: ignore[no-untyped-def]
    transcript = harness.only_transcript()
    if outcome == "ok":
        assert transcript[0] == (1, "user", text)
        assert transcript[1][:2] == (2, "assistant")
        assert transcript[1][2] == reply
        assert len(transcript) == 2
        props = harness.messages(harness.session_ids()[0])[1].custom_properties
        assert props["model"] == "local"
        assert int(props["latency_ms"]) >= 0
        assert "incomplete" not in props
        if path not in ("stream", "raw_stream", "stream_helper"):  # chat streams carry usage only if asked
            assert int(props["input_tokens"]) > 0 and int(props["output_tokens"]) > 0
    else:
        assert transcript == [(1, "user", text)]


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize("path", ALL_PATHS)
def test_sync_paths(harness, path: str, outcome: str) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    text = f"sync {path} {outcome}"
    expected = OUTCOMES[outcome]
    reply = None
    if expected is None:
        reply = call(oa, path, _model(outcome), text)
    else:
        with pytest.raises(expected) as caught:
            call(oa, path, _model(outcome), text)
        assert type(caught.value) is expected
    _check(harness, path, outcome, text, reply)
    assert harness.client.stats()["internal_errors"] == {}


@pytest.mark.parametrize("outcome", ["ok", "500"])
@pytest.mark.parametrize("path", ALL_PATHS)
def test_async_paths(harness, path: str, outcome: str) -> None:  # type: ignore[no-untyped-def]
    async def run() -> str | None:
        async with harness.async_openai() as oa:
            if outcome == "ok":
                return await acall(oa, path, "local", text)
            with pytest.raises(OUTCOMES[outcome]):
                await acall(oa, path, _model(outcome), text)
            return None

    text = f"async {path} {outcome}"
    reply = asyncio.run(run())
    _check(harness, path, outcome, text, reply)
    assert harness.client.stats()["internal_errors"] == {}


def test_provider_error_is_the_same_object_with_its_traceback(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    with pytest.raises(openai.BadRequestError) as caught:
        oa.chat.completions.create(model="error-400", messages=[{"role": "user", "content": "x"}])
    error = caught.value
    assert error.status_code == 400
    assert "injected fault 400" in str(error)
    frames = [f.name for f in caught.traceback]
    assert "request" in frames  # raised where the SDK raised it, not re-created by us
    assert isinstance(error.__traceback__, type(caught.tb))


def test_other_endpoints_are_not_captured(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    assert [m.id for m in oa.models.list()] == ["local"]
    assert harness.session_ids() == []
