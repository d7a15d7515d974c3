"""``n > 1``: each choice is read by its index; the first is logged, the others are known
continuations of the conversation (the app may show the user another one)."""

from __future__ import annotations

import asyncio
from typing import Any

from openai_helpers import assistant, user

FIRST = "You said: pick one"
SECOND = "You said: pick one (choice 2)"


def _streamed_choices(client: Any, messages: list[Any]) -> list[str]:
    """What a chat UI offering two drafts shows: each choice's text, by index."""
    texts = ["", ""]
    for chunk in client.chat.completions.create(model="local", messages=messages, n=2, stream=True):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    return texts


def test_streamed_choices_are_not_glued_together(harness) -> None:  # type: ignore[no-untyped-def]
    texts = _streamed_choices(harness.openai(), [user("pick one")])
    assert texts == [FIRST, SECOND]
    messages = harness.messages(harness.session_ids()[0])
    assert [(m.index, m.role, m.content) for m in messages] == [
        (1, "user", "pick one"),
        (2, "assistant", FIRST),
    ]
    assert messages[1].custom_properties["finish_reason"] == "stop"
    assert "incomplete" not in messages[1].custom_properties


def test_async_streamed_choices(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> list[str]:
        texts = ["", ""]
        async with harness.async_openai() as client:
            stream = await client.chat.completions.create(
                model="local", messages=[user("pick one")], n=2, stream=True
            )
            async for chunk in stream:
                for choice in chunk.choices:
                    texts[choice.index] += choice.delta.content or ""
        return texts

    assert asyncio.run(run()) == [FIRST, SECOND]
    assert harness.only_transcript() == [(1, "user", "pick one"), (2, "assistant", FIRST)]


def test_whole_response_logs_the_first_choice(harness) -> None:  # type: ignore[no-untyped-def]
    response = harness.openai().chat.completions.create(model="local", messages=[user("pick one")], n=2)
    assert [c.message.content for c in response.choices] == [FIRST, SECOND]
    assert harness.only_transcript() == [(1, "user", "pick one"), (2, "assistant", FIRST)]


def test_continuing_with_the_second_streamed_choice_stays_in_the_session(harness) -> None:  # type: ignore[no-untyped-def]
    client = harness.openai()
    history: list[Any] = [user("pick one")]
    texts = _streamed_choices(client, history)
    history += [assistant(texts[1]), user("thanks")]  # the user preferred the second draft
    client.chat.completions.create(model="local", messages=history)
    transcript = harness.only_transcript()
    assert transcript[0] == (1, "user", "pick one")
    assert transcript[-2:] == [(3, "user", "thanks"), (4, "assistant", "You said: thanks")]


def test_continuing_with_the_second_choice_of_a_whole_response(harness) -> None:  # type: ignore[no-untyped-def]
    client = harness.openai()
    history: list[Any] = [user("pick one")]
    response = client.chat.completions.create(model="local", messages=history, n=2)
    assert [c.message.content for c in response.choices] == [FIRST, SECOND]
    history += [assistant(response.choices[1].message.content or ""), user("thanks")]
    client.chat.completions.create(model="local", messages=history)
    transcript = harness.only_transcript()
    assert transcript[:2] == [(1, "user", "pick one"), (2, "assistant", FIRST)]
    assert transcript[-2:] == [(3, "user", "thanks"), (4, "assistant", "You said: thanks")]
