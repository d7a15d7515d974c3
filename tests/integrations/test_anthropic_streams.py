"""The anthropic stream lifecycle: a streamed reply is logged once, with the text read, however the
stream ends (read through, helper ``with`` exit, close, break, garbage collection, an error event
or a dropped connection mid-stream, task cancellation)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import pytest
from anthropic_helpers import anthropic_client, async_anthropic_client

import align_instrument as align

TEXT = "tell me a story about streams"
FULL = f"You said: {TEXT}"


def _stream(harness, model: str = "claude-local", **kwargs: Any) -> Any:  # type: ignore[no-untyped-def]
    return anthropic_client(harness.llm).messages.create(
        model=model, max_tokens=100, messages=[{"role": "user", "content": TEXT}], stream=True, **kwargs
    )


def _assistant(harness) -> tuple[str | None, dict[str, str]]:  # type: ignore[no-untyped-def]
    messages = harness.messages(harness.session_ids()[0])
    assert messages[0].content == TEXT
    assistants = [m for m in messages if m.role == "assistant"]
    assert len(assistants) <= 1
    if not assistants:
        return None, {}
    return assistants[0].content, assistants[0].custom_properties


def _texts(events: Any) -> str:
    return "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )


def test_full_stream_is_a_stream_and_logs_usage_and_stop_reason(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness)
    assert isinstance(stream, anthropic.Stream)
    assert _texts(stream) == FULL
    content, props = _assistant(harness)
    assert content == FULL
    assert "incomplete" not in props
    assert props["finish_reason"] == "end_turn"
    assert int(props["output_tokens"]) == len(FULL.split())
    assert int(props["input_tokens"]) == len(TEXT.split())
    assert align.message_ref(stream) == align.MessageRef(align.current_session(), 2)


def test_unreferenced_stream_iterated_in_place_is_logged_whole(harness) -> None:  # type: ignore[no-untyped-def]
    # ``for event in client.messages.create(..., stream=True)``: only the iterator holds the stream.
    assert _texts(_stream(harness)) == FULL
    content, props = _assistant(harness)
    assert content == FULL
    assert "incomplete" not in props


def test_with_exit_after_a_few_events_logs_partial_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    with _stream(harness) as stream:
        for _ in range(4):  # message_start, content_block_start, "You ", "said: "
            next(stream)
    content, props = _assistant(harness)
    assert content == "You said: "
    assert props["incomplete"] == "true"


def test_early_break_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness)
    for event in stream:
        if event.type == "content_block_delta":
            break
    content, props = _assistant(harness)  # logged at the break, the stream still referenced
    assert content == "You "
    assert props["incomplete"] == "true"
    del stream


def test_garbage_collected_stream_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness)
    next(stream)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    content, props = _assistant(harness)
    assert content == "You "
    assert props["incomplete"] == "true"


def test_error_event_mid_stream_reaches_app_and_partial_is_logged(harness) -> None:  # type: ignore[no-untyped-def]
    stream = _stream(harness, extra_headers={"x-stream-error-after": "5"})
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in stream:
            seen.append(event)
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert _texts(seen) == "You said: "
    content, props = _assistant(harness)
    assert content == "You said: "
    assert props["incomplete"] == "true"


def test_dropped_connection_mid_stream(harness) -> None:  # type: ignore[no-untyped-def]
    seen: list[Any] = []
    with pytest.raises(anthropic.APIConnectionError):
        for event in _stream(harness, model="cut-4"):
            seen.append(event)
    assert _texts(seen) == "You "
    content, props = _assistant(harness)
    assert content == "You "
    assert props["incomplete"] == "true"


def test_helper_with_exit_early_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    with client.messages.stream(
        model="claude-local", max_tokens=100, messages=[{"role": "user", "content": TEXT}]
    ) as stream:
        words = iter(stream.text_stream)
        assert next(words) + next(words) == "You said: "
        content, _ = _assistant(harness)
        assert content is None  # still streaming: nothing logged yet
    content, props = _assistant(harness)  # the helper's with exit closes our stream proxy
    assert content == "You said: "
    assert props["incomplete"] == "true"


def test_helper_final_message_ref_and_feedback(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    with client.messages.stream(
        model="claude-local", max_tokens=100, messages=[{"role": "user", "content": TEXT}]
    ) as stream:
        final = stream.get_final_message()
    ref = align.MessageRef(align.current_session(), 2)
    assert align.message_ref(stream) == ref
    assert align.message_ref(final) == ref
    assert align.feedback(stream, align.FEEDBACK_THUMBS_DOWN) is True
    harness.flush()
    detail = harness.collector.store.session(ref.session_id)
    assert [(m.index, [f.type for f in m.feedback]) for m in detail.messages] == [
        (1, []),
        (2, ["thumbs_down"]),
    ]


def test_async_stream_full_and_close(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> tuple[str, object]:
        async with async_anthropic_client(harness.llm) as client:
            stream = await client.messages.create(
                model="claude-local",
                max_tokens=100,
                messages=[{"role": "user", "content": TEXT}],
                stream=True,
            )
            assert isinstance(stream, anthropic.AsyncStream)
            text = "".join(
                [
                    e.delta.text
                    async for e in stream
                    if e.type == "content_block_delta" and e.delta.type == "text_delta"
                ]
            )
            await stream.close()
            return text, align.message_ref(stream)

    text, ref = asyncio.run(run())
    assert text == FULL
    assert _assistant(harness)[0] == FULL
    assert ref is not None and ref.message_index == 2


def test_async_helper_with_exit_early(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with (
            async_anthropic_client(harness.llm) as client,
            client.messages.stream(
                model="claude-local", max_tokens=100, messages=[{"role": "user", "content": TEXT}]
            ) as stream,
        ):
            async for text in stream.text_stream:
                assert text == "You "
                break

    asyncio.run(run())
    content, props = _assistant(harness)
    assert content == "You "
    assert props["incomplete"] == "true"


def test_cancelled_task_logs_partial(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with async_anthropic_client(harness.llm) as client:
            got_text = asyncio.Event()

            async def consume() -> None:
                stream = await client.messages.create(
                    model="slow-50", max_tokens=100, messages=[{"role": "user", "content": TEXT}], stream=True
                )
                async for event in stream:
                    if event.type == "content_block_delta":
                        got_text.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(got_text.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    content, props = _assistant(harness)
    assert content is not None and FULL.startswith(content) and content != FULL
    assert props["incomplete"] == "true"
