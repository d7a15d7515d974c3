"""Implicit threading on histories that apps reshape: each test is an app written as apps are
(the real openai SDK over HTTP against local_llm), asserting the exact transcript the collector
receives. The model's replies differ by conversation (``seed``), as sampled replies do."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from openai_helpers import assistant, user

import align_instrument as align

SYSTEM = {"role": "system", "content": "You are a support bot."}


def reply(oa: openai.OpenAI, messages: list[Any], seed: int | None = None, **kwargs: Any) -> str:
    extra = {"seed": seed} if seed is not None else {}
    completion = oa.chat.completions.create(model="local", messages=messages, **extra, **kwargs)
    return completion.choices[0].message.content or ""


def said(text: str, seed: int | None = None) -> str:
    return f"You said: {text}" + (f" (take {seed})" if seed is not None else "")


def transcript_of(texts: list[str], seed: int | None = None, start: int = 1) -> list[tuple[int, str, str]]:
    out: list[tuple[int, str, str]] = []
    for i, text in enumerate(texts):
        out += [(start + 2 * i, "user", text), (start + 2 * i + 1, "assistant", said(text, seed))]
    return out


def test_sliding_window_keeps_one_session_with_true_indexes(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    texts = [f"question {i}" for i in range(1, 9)]
    # two look-alike conversations, interleaved turn by turn
    stored: dict[int, list[Any]] = {1: [], 2: []}
    for text in texts:
        for seed in (1, 2):
            stored[seed].append(user(text))
            window = [SYSTEM, *stored[seed][-6:]]  # the system prompt and the last 6 messages
            stored[seed].append(assistant(reply(oa, window, seed)))
    assert harness.transcripts() == sorted([transcript_of(texts, 1), transcript_of(texts, 2)])


def test_system_prompt_that_changes_every_turn(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    history: list[Any] = []
    for i, text in enumerate(["hi", "what time is it", "thanks"]):
        history.append(user(text))
        now = {"role": "system", "content": f"The time is 12:0{i}."}
        history.append(assistant(reply(oa, [now, *history], seed=7)))
    assert harness.only_transcript() == transcript_of(["hi", "what time is it", "thanks"], 7)


def test_older_turns_replaced_by_a_summary(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    texts = ["my order is late", "it is order 12", "can you refund it", "and the shipping", "bye"]
    history: list[Any] = []
    for turn, text in enumerate(texts, start=1):
        history.append(user(text))
        if turn > 3:  # the app summarises all but the last exchange
            summary = {"role": "system", "content": f"Summary of the chat so far ({len(history)} messages)."}
            sent = [SYSTEM, summary, *history[-3:]]
        else:
            sent = [SYSTEM, *history]
        history.append(assistant(reply(oa, sent, seed=3)))
    assert harness.only_transcript() == transcript_of(texts, 3)


def test_rag_wrapped_user_message_is_logged_as_sent(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    stored: list[Any] = []  # the app stores the user's own words ...
    sent_texts = []
    for text in ["how do I reset my password", "and my e-mail", "thanks"]:
        wrapped = f"Context:\n[doc 1] Settings > Security.\n\nQuestion: {text}"  # ... and sends them wrapped
        sent_texts.append(wrapped)
        answer = reply(oa, [SYSTEM, *stored, user(wrapped)], seed=5)
        stored += [user(text), assistant(answer)]
    assert harness.only_transcript() == transcript_of(sent_texts, 5)


def test_tool_loop_stored_without_its_tool_steps(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    stored: list[Any] = []
    for text in ["weather in Paris?", "and the weather in Oslo?"]:
        loop: list[Any] = [*stored, user(text)]
        first = oa.chat.completions.create(model="local", messages=loop, tools=tools, seed=11)
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        loop += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
        final = reply(oa, loop, tools=tools, seed=11)
        stored += [user(text), assistant(final)]  # the app keeps the question and the final answer only
    stored.append(user("thanks"))
    reply(oa, stored, seed=11)
    final_text = "Based on the tool result: sunny"
    assert harness.only_transcript() == [
        (1, "user", "weather in Paris?"),
        (2, "assistant", final_text),
        (3, "user", "and the weather in Oslo?"),
        (4, "assistant", final_text),
        (5, "user", "thanks"),
        (6, "assistant", said("thanks", 11)),
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_continuing_with_the_second_choice_of_n2(harness, stream: bool) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    history: list[Any] = [user("suggest a name")]
    if stream:
        texts = ["", ""]
        for chunk in oa.chat.completions.create(model="local", messages=history, n=2, stream=True):
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
    else:
        completion = oa.chat.completions.create(model="local", messages=history, n=2)
        texts = [c.message.content or "" for c in completion.choices]
    assert texts[1] != texts[0]
    history += [assistant(texts[1]), user("I like it")]  # the app showed choice 2
    reply(oa, history)
    assert harness.only_transcript() == [
        (1, "user", "suggest a name"),
        (2, "assistant", texts[0]),  # the first choice is the one logged
        (3, "user", "I like it"),
        (4, "assistant", said("I like it")),
    ]


@pytest.mark.align(session_timeout=0.3)
def test_resumed_after_the_inactivity_close_logs_only_the_new_turn(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    history: list[Any] = [user("hi")]
    history.append(assistant(reply(oa, history, seed=21)))
    first = align.current_session()
    deadline = time.monotonic() + 5
    while "session_close" not in harness.event_types() and time.monotonic() < deadline:
        time.sleep(0.05)
    history.append(user("I am back"))
    reply(oa, history, seed=21)
    second = align.current_session()
    assert second != first
    assert harness.transcript(second) == transcript_of(["I am back"], 21)
    summary = next(s for s in harness.collector.store.sessions() if s.session_id == second)
    assert summary.custom_properties == {"continues_session": first}


def test_anonymous_identical_openers_are_never_merged(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    histories: list[list[Any]] = []
    for _ in range(3):  # three anonymous users open with "Hi" and get the same greeting
        history: list[Any] = [user("Hi")]
        history.append(assistant(reply(oa, history)))
        histories.append(history)
    for n, history in enumerate(histories):
        history.append(user(f"I am user {n}"))
        reply(oa, history)
    for sid in harness.session_ids():
        users = {m.content for m in harness.messages(sid) if m.role == "user" and "user" in m.content}
        assert len(users) <= 1  # purity: no session holds two users' turns
    assert harness.client.stats()["sessions"]["ambiguous"] == 3
    # With `user=`, the same conversations are kept whole.
    for n in range(3):
        history = [user("Hi")]
        history.append(assistant(reply(oa, history, user=f"u{n}")))
        history.append(user(f"I am u{n}"))
        reply(oa, history, user=f"u{n}")
    harness.flush()
    whole = [s for s in harness.collector.store.sessions() if s.user_id.startswith("u")]
    assert sorted(harness.transcript(s.session_id) for s in whole) == [
        transcript_of(["Hi", f"I am u{n}"]) for n in range(3)
    ]


def test_stream_failing_on_the_first_turn_then_retried(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    history: list[Any] = [user("tell me a story")]
    with pytest.raises(RuntimeError):
        for chunk in oa.chat.completions.create(model="local", messages=history, stream=True, seed=1):
            if chunk.choices and "story" in (chunk.choices[0].delta.content or ""):
                raise RuntimeError("the app's own bug, inside the stream loop")
    answer = reply(oa, history, seed=2)  # the app retries the same request
    history += [assistant(answer), user("nice")]
    reply(oa, history, seed=2)
    messages = harness.messages(harness.session_ids()[0])
    assert len(harness.session_ids()) == 1
    assert [(m.index, m.role, m.content) for m in messages] == [
        (1, "user", "tell me a story"),
        (2, "assistant", "You said: tell me a story "),  # the cut-short variant, kept and marked
        (3, "assistant", answer),
        (4, "user", "nice"),
        (5, "assistant", said("nice", 2)),
    ]
    assert messages[1].custom_properties["incomplete"] == "true"
    assert messages[2].custom_properties["regenerates"] == "2"


def test_failed_first_call_then_retried_is_one_session(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    with pytest.raises(openai.InternalServerError):
        oa.chat.completions.create(
            model="local", messages=[user("hello there")], extra_headers={"x-fault-status": "500"}
        )
    history: list[Any] = [user("hello there")]
    history += [assistant(reply(oa, history)), user("again")]
    reply(oa, history)
    assert harness.only_transcript() == transcript_of(["hello there", "again"])


def test_long_windowed_conversation_never_relogs(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    stored: list[Any] = []
    texts = [f"message number {i}" for i in range(30)]
    for text in texts:
        stored.append(user(text))
        stored.append(assistant(reply(oa, [SYSTEM, *stored[-4:]], seed=9)))
    assert harness.only_transcript() == transcript_of(texts, 9)
    assert harness.client.stats()["enqueued"] == 1 + 2 * len(texts)  # one open, each message once
