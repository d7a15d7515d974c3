"""Stream lifecycle: the reply is logged once, with the text the app read, however the stream ends."""

from __future__ import annotations

import asyncio
import gc

import openai
import pytest
from openai_helpers import user

import align_instrument as align

TEXT = "one two three four five six"
FULL = f"You said: {TEXT}"


def _assistant(harness):  # type: ignore[no-untyped-def]
    transcript = harness.only_transcript()
    assert transcript[0] == (1, "user", TEXT)
    assert len(transcript) <= 2, transcript
    if len(transcript) == 1:
        return None, {}
    message = harness.messages(harness.session_ids()[0])[1]
    assert message.index == 2 and message.role == "assistant"
    return message.content, message.custom_properties


def _stream(harness, model: str = "local", **kwargs):  # type: ignore[no-untyped-def]
    return harness.openai().chat.completions.create(model=model, messages=[user(TEXT)], stream=True, **kwargs)


def test_fully_read_is_complete_and_logged_once(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness, stream_options={"include_usage": True})
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200  # attributes pass through the proxy
    with stream:
        chunks = list(stream)
    stream.close()  # again: nothing more is logged
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FULL
    content, props = _assistant(harness)
    assert content == FULL
    assert "incomplete" not in props
    assert props["finish_reason"] == "stop"
    assert int(props["output_tokens"]) == len(FULL.split())
    assert align.message_ref(stream) == align.MessageRef(align.current_session(), 2)


def test_with_exit_after_a_few_chunks_logs_partial_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    with _stream(harness) as stream:
        next(stream)
        next(stream)
        next(stream)
    content, props = _assistant(harness)
    assert content == "You said: "
    assert props["incomplete"] == "true"


def test_close_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness)
    iterator = iter(stream)
    next(iterator)
    next(iterator)
    stream.close()
    content, props = _assistant(harness)
    assert content == "You "
    assert props["incomplete"] == "true"


def test_early_break_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness)
    seen = []
    for chunk in stream:
        seen.append(chunk.choices[0].delta.content or "")
        if len(seen) == 3:
            break
    content, props = _assistant(harness)  # logged at the break, stream still referenced
    assert content == "".join(seen)
    assert props["incomplete"] == "true"
    del stream


def test_garbage_collected_stream_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    content, props = _assistant(harness)
    assert content == "You "
    assert props["incomplete"] == "true"


def test_exception_mid_stream_reaches_app_and_partial_is_logged(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness, model="cut-3")
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "You said: "
    content, props = _assistant(harness)
    assert content == "You said: "
    assert props["incomplete"] == "true"


def test_abandoned_before_any_text_logs_only_the_user_message(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness)
    next(stream)  # the role chunk, no text yet
    stream.close()
    assert _assistant(harness) == (None, {})


def test_async_stream_full_and_aclose(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> tuple[str, object]:
        async with harness.async_openai() as oa:
            stream = await oa.chat.completions.create(model="local", messages=[user(TEXT)], stream=True)
            assert isinstance(stream, openai.AsyncStream)
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
            await stream.close()
            return text, align.message_ref(stream)

    text, ref = asyncio.run(run())
    assert text == FULL
    assert _assistant(harness)[0] == FULL
    assert ref is not None and ref.message_index == 2


def test_async_with_exit_early(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with harness.async_openai() as oa:
            stream = await oa.chat.completions.create(model="local", messages=[user(TEXT)], stream=True)
            async with stream:
                await stream.__anext__()
                await stream.__anext__()

    asyncio.run(run())
    content, props = _assistant(harness)
    assert content == "You "
    assert props["incomplete"] == "true"


def test_task_cancellation_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    async def consume(stream, seen: list[str]) -> None:  # type: ignore[no-untyped-def]
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")

    async def run() -> list[str]:
        async with harness.async_openai() as oa:
            stream = await oa.chat.completions.create(model="slow-40", messages=[user(TEXT)], stream=True)
            seen: list[str] = []
            task = asyncio.create_task(consume(stream, seen))
            while len(seen) < 3:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return seen

    seen = asyncio.run(run())
    content, props = _assistant(harness)
    assert content == "".join(seen).rstrip() or content == "".join(seen)
    assert props["incomplete"] == "true"


def test_async_exception_mid_stream(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with harness.async_openai() as oa:
            stream = await oa.chat.completions.create(model="cut-4", messages=[user(TEXT)], stream=True)
            with pytest.raises(openai.APIConnectionError):
                async for _ in stream:
                    pass

    asyncio.run(run())
    content, props = _assistant(harness)
    assert content == "You said: one "
    assert props["incomplete"] == "true"


def test_stream_helper_exited_early_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    with oa.chat.completions.stream(model="local", messages=[user(TEXT)]) as stream:
        for event in stream:
            if event.type == "content.delta" and event.snapshot.startswith("You said:"):
                break
    content, props = _assistant(harness)  # logged at the helper's exit, the helper still referenced
    assert content == "You said: "
    assert props["incomplete"] == "true"
    assert stream.current_completion_snapshot.choices[0].message.content == "You said: "
    assert align.message_ref(stream) == align.MessageRef(align.current_session(), 2)


def test_async_stream_helper_exited_early(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with harness.async_openai() as oa, oa.responses.stream(model="local", input=TEXT) as stream:
            async for event in stream:
                if event.type == "response.output_text.delta" and event.delta.startswith("said"):
                    break

    asyncio.run(run())
    content, props = _assistant(harness)
    assert content == "You said: "
    assert props["incomplete"] == "true"


def test_responses_stream_read_partly(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    stream = oa.responses.create(model="local", input=TEXT, stream=True)
    for event in stream:
        if event.type == "response.output_text.delta" and event.delta.startswith("said"):
            break
    stream.close()
    content, props = _assistant(harness)
    assert content == "You said: "
    assert props["incomplete"] == "true"
