"""Streams read the way apps and OpenAI's own docs write them: the stream is never bound to a name,
and the connection may end mid-stream. The collector must receive the reply the app read."""

from __future__ import annotations

import asyncio
import gc

import openai
import pytest
from openai_helpers import assistant, user

TEXT = "one two three four five six"
FULL = f"You said: {TEXT}"


def _reply(harness):  # type: ignore[no-untyped-def]
    """(content, custom properties) of the only session's assistant message."""
    messages = harness.messages(harness.session_ids()[0])
    assert [(m.index, m.role) for m in messages] == [(1, "user"), (2, "assistant")], messages
    assert messages[0].content == TEXT
    return messages[1].content, messages[1].custom_properties


def test_docs_for_loop_over_an_unbound_stream(harness) -> None:  # type: ignore[no-untyped-def]
    client = harness.openai()
    shown = []
    for chunk in client.chat.completions.create(model="local", messages=[user(TEXT)], stream=True):
        shown.append(chunk.choices[0].delta.content or "")
    assert "".join(shown) == FULL
    content, props = _reply(harness)
    assert content == FULL
    assert props["finish_reason"] == "stop"
    assert "incomplete" not in props


def test_join_over_a_generator_expression(harness) -> None:  # type: ignore[no-untyped-def]
    client = harness.openai()
    history = [user(TEXT)]
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="local", messages=history, stream=True)
    )
    assert text == FULL
    # the next turn continues the same session (turn 1 is not logged again)
    history += [assistant(text), user("seven")]
    "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="local", messages=history, stream=True)
    )
    assert harness.only_transcript() == [
        (1, "user", TEXT),
        (2, "assistant", FULL),
        (3, "user", "seven"),
        (4, "assistant", "You said: seven"),
    ]


def test_break_out_of_an_unbound_stream_is_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    shown = []
    for chunk in harness.openai().chat.completions.create(model="local", messages=[user(TEXT)], stream=True):
        shown.append(chunk.choices[0].delta.content or "")
        if len(shown) == 4:
            break
    gc.collect()
    content, props = _reply(harness)
    assert content == "".join(shown) == "You said: one "
    assert props["incomplete"] == "true"


def test_unbound_raw_response_stream(harness) -> None:  # type: ignore[no-untyped-def]
    chat = harness.openai().chat.completions
    text = "".join(
        c.choices[0].delta.content or ""
        for c in chat.with_raw_response.create(model="local", messages=[user(TEXT)], stream=True).parse()
    )
    assert text == FULL
    assert _reply(harness)[0] == FULL


def _async_for_over_awaited_create(harness, stop_after: int = 0) -> str:  # type: ignore[no-untyped-def]
    """``async for c in await create(..., stream=True)``, optionally leaving after ``stop_after`` chunks."""

    async def run() -> str:
        async with harness.async_openai() as client:
            shown = []
            async for c in await client.chat.completions.create(
                model="local", messages=[user(TEXT)], stream=True
            ):
                shown.append(c.choices[0].delta.content or "")
                if len(shown) == stop_after:
                    break
            gc.collect()
            return "".join(shown)

    return asyncio.run(run())


def test_async_for_over_an_awaited_create(harness) -> None:  # type: ignore[no-untyped-def]
    assert _async_for_over_awaited_create(harness) == FULL
    content, props = _reply(harness)
    assert content == FULL
    assert "incomplete" not in props


def test_async_break_is_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    shown = _async_for_over_awaited_create(harness, stop_after=3)
    content, props = _reply(harness)
    assert content == shown == "You said: "
    assert props["incomplete"] == "true"


def test_stream_helpers_read_to_the_end(harness) -> None:  # type: ignore[no-untyped-def]
    client = harness.openai()
    with client.chat.completions.stream(model="local", messages=[user(TEXT)]) as stream:
        text = "".join(e.delta for e in stream if e.type == "content.delta")
    assert text == FULL
    content, props = _reply(harness)
    assert content == FULL
    assert "incomplete" not in props


def test_async_stream_helper_read_to_the_end(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> str:
        async with (
            harness.async_openai() as client,
            client.chat.completions.stream(model="local", messages=[user(TEXT)]) as stream,
        ):
            return "".join([e.delta async for e in stream if e.type == "content.delta"])

    assert asyncio.run(run()) == FULL
    content, props = _reply(harness)
    assert content == FULL
    assert "incomplete" not in props


# --- a connection that ends mid-stream: to the SDK the stream just stops -----------------------------------


def test_connection_dropped_between_frames_is_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    # drop-5: the role chunk and four words, then the server closes the connection
    text = "".join(
        c.choices[0].delta.content or ""
        for c in harness.openai().chat.completions.create(model="drop-5", messages=[user(TEXT)], stream=True)
    )
    assert text == "You said: one two "  # the SDK raised nothing: the app shows a cut reply
    content, props = _reply(harness)
    assert content == text
    assert props["incomplete"] == "true"
    assert "finish_reason" not in props


def test_async_connection_dropped_between_frames_is_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> str:
        async with harness.async_openai() as client:
            stream = await client.chat.completions.create(model="drop-3", messages=[user(TEXT)], stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(run()) == "You said: "
    content, props = _reply(harness)
    assert content == "You said: "
    assert props["incomplete"] == "true"


def test_responses_stream_dropped_before_completed_is_incomplete(harness) -> None:  # type: ignore[no-untyped-def]
    client = harness.openai()
    text = "".join(
        e.delta
        for e in client.responses.create(model="drop-7", input=TEXT, stream=True)
        if e.type == "response.output_text.delta"
    )
    assert text == "You said: one "
    content, props = _reply(harness)
    assert content == "You said: one "
    assert props["incomplete"] == "true"


@pytest.mark.parametrize("model", ["drop-4", "cut-4"])
def test_stream_helper_over_a_dropped_connection(harness, model: str) -> None:  # type: ignore[no-untyped-def]
    client = harness.openai()
    shown = []
    try:
        with client.chat.completions.stream(model=model, messages=[user(TEXT)]) as stream:
            shown.extend(e.delta for e in stream if e.type == "content.delta")
    except openai.APIConnectionError:
        assert model.startswith("cut")
    content, props = _reply(harness)
    assert content == "You said: one "
    assert props["incomplete"] == "true"
