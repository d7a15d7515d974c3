"""Sessions from OpenAI calls: implicit threading, scopes, Responses chains, indexes without
duplicates, regenerations, inactivity closes, feedback, and never breaking the app."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import openai
import pytest
from openai_helpers import assistant, user

import align_instrument as align
from align_instrument.sessions import SUPPRESS_PROVIDER_CAPTURE, current_scope


def chat(oa: openai.OpenAI, messages: list[Any], **kwargs: Any) -> str:
    return (
        oa.chat.completions.create(model="local", messages=messages, **kwargs).choices[0].message.content
        or ""
    )


def converse(oa: openai.OpenAI, texts: list[str], **kwargs: Any) -> list[Any]:
    """An app that keeps the full history and sends it every turn."""
    history: list[Any] = [{"role": "system", "content": "You are terse."}]
    for text in texts:
        history.append(user(text))
        history.append(assistant(chat(oa, history, **kwargs)))
    return history


def expected(texts: list[str]) -> list[tuple[int, str, str]]:
    out = []
    for i, text in enumerate(texts):
        out += [(2 * i + 1, "user", text), (2 * i + 2, "assistant", f"You said: {text}")]
    return out


def test_full_history_app_is_one_session_with_position_indexes(harness) -> None:  # type: ignore[no-untyped-def]
    converse(harness.openai(), ["hi", "how are you", "bye"])
    assert harness.only_transcript() == expected(["hi", "how are you", "bye"])
    assert harness.event_types().count("session_open") == 1


def test_interleaved_users_with_the_same_opening_stay_separate(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    histories: dict[str, list[Any]] = {"alice": [], "bob": []}
    for turn in range(3):
        for name, history in histories.items():
            history.append(user("hello" if turn == 0 else f"{name} turn {turn}"))
            history.append(assistant(chat(oa, history, user=name)))
    sessions = harness.collector.store.sessions()
    harness.flush()
    sessions = harness.collector.store.sessions()
    assert sorted(s.user_id for s in sessions) == ["alice", "bob"]
    for summary in sessions:
        name = summary.user_id
        assert harness.transcript(summary.session_id) == expected(
            ["hello", f"{name} turn 1", f"{name} turn 2"]
        )


def test_same_opening_twice_is_never_merged(harness) -> None:  # type: ignore[no-untyped-def]
    # Both conversations get the same first reply: their second turns cannot be told apart by
    # content, so the later one starts a new session (counted) rather than guess.
    oa = harness.openai()
    converse(oa, ["hello", "first"])
    converse(oa, ["hello", "second"])
    assert harness.transcripts() == sorted(
        [
            expected(["hello", "first"]),
            expected(["hello"]),
            [(1, "user", "second"), (2, "assistant", "You said: second")],
        ]
    )
    assert harness.client.stats()["sessions"]["ambiguous"] == 1


def test_different_api_keys_never_share_a_session(harness) -> None:  # type: ignore[no-untyped-def]
    first, second = harness.openai(api_key="key-one"), harness.openai(api_key="key-two")
    history = [user("same"), assistant(chat(first, [user("same")]))]
    chat(second, [*history, user("continued elsewhere")])
    transcripts = harness.transcripts()
    assert len(transcripts) == 2
    assert expected(["same"]) in transcripts


def test_scope_groups_stateless_calls_and_sets_session_fields(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    with align.session("support-1", user_id="user-9", assistant_id="bot", custom_properties={"plan": "pro"}):
        chat(oa, [user("first question")])
        chat(oa, [user("second question")])  # the app sends only the new message
        assert align.current_session() == "support-1"
    assert harness.transcript("support-1") == expected(["first question", "second question"])
    summary = harness.collector.store.session("support-1")
    assert (summary.user_id, summary.assistant_id) == ("user-9", "bot")
    assert summary.custom_properties == {"plan": "pro"}


def test_scope_with_full_history_logs_only_new_messages(harness) -> None:  # type: ignore[no-untyped-def]
    with align.session("s-full"):
        converse(harness.openai(), ["a", "b", "c"])
    assert harness.transcript("s-full") == expected(["a", "b", "c"])


def test_scope_decorator_threads_tasks_and_generators(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()

    @align.session("deco-sync")
    def sync_call() -> str:
        return chat(oa, [user("from sync")])

    @align.session("deco-gen")
    def generator():  # type: ignore[no-untyped-def]
        yield chat(oa, [user("from generator")])
        yield align.current_session()

    @align.session("deco-async")
    async def async_call() -> str:
        async with harness.async_openai() as aoa:
            # a task created inside the scope sees it
            task = asyncio.create_task(
                aoa.chat.completions.create(model="local", messages=[user("from task")])
            )
            await task
            return align.current_session() or ""

    sync_call()
    gen = generator()
    next(gen)
    assert current_scope() is None  # the scope is not leaked into the consumer between items
    assert next(gen) == "deco-gen"
    assert asyncio.run(async_call()) == "deco-async"
    with align.session("in-thread"):
        ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(chat, oa, [user("from thread")]))
    thread.start()
    thread.join()
    assert harness.transcript("deco-sync")[0] == (1, "user", "from sync")
    assert harness.transcript("deco-gen")[0] == (1, "user", "from generator")
    assert harness.transcript("deco-async")[0] == (1, "user", "from task")
    assert harness.transcript("in-thread")[0] == (1, "user", "from thread")


def test_responses_previous_response_id_chain(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    first = oa.responses.create(model="local", input="one")
    second = oa.responses.create(model="local", input="two", previous_response_id=first.id)
    third = oa.responses.create(model="local", input=[user("three")], previous_response_id=second.id)
    assert harness.only_transcript() == expected(["one", "two", "three"])
    assert align.message_ref(third).message_index == 6  # type: ignore[union-attr]
    assert align.message_ref(first.id).message_index == 2  # type: ignore[union-attr]


def test_responses_conversation_id_is_the_session(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    oa.responses.create(model="local", input="one", conversation="conv_abc")
    oa.responses.create(model="local", input="two", conversation={"id": "conv_abc"})
    assert harness.transcript("conv_abc") == expected(["one", "two"])


def test_failed_then_retried_call_logs_the_user_message_once(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    history = [user("hi"), assistant(chat(oa, [user("hi")])), user("second")]
    with pytest.raises(openai.InternalServerError):
        oa.chat.completions.create(model="error-500", messages=history)
    assert harness.only_transcript() == [*expected(["hi"]), (3, "user", "second")]
    chat(oa, history)  # the app retries the same request
    chat(oa, [*history, assistant("You said: second"), user("third")])
    assert harness.only_transcript() == expected(["hi", "second", "third"])
    assert harness.client.stats()["internal_errors"] == {}


def test_regenerated_turn_is_logged_at_once_at_the_next_index(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    history = [user("hi"), assistant(chat(oa, [user("hi")])), user("tell me more")]
    first = chat(oa, history, seed=1)
    sid = align.current_session()
    assert harness.transcript(sid)[-1] == (4, "assistant", first)  # logged when complete, not held
    second = chat(oa, history, seed=2)  # the user pressed "regenerate"
    assert (first, second) == ("You said: tell me more (take 1)", "You said: tell me more (take 2)")
    chat(oa, [*history, assistant(first), user("ok")])  # ... and went on with the first take
    chat(oa, [*history, assistant(second), user("ok 2")])  # ... or, in another tab, with the second
    assert harness.only_transcript() == [
        *expected(["hi"]),
        (3, "user", "tell me more"),
        (4, "assistant", first),
        (5, "assistant", second),
        (6, "user", "ok"),
        (7, "assistant", "You said: ok"),
        (8, "user", "ok 2"),
        (9, "assistant", "You said: ok 2"),
    ]
    regenerated = harness.collector.store.session(sid).messages[4]
    assert regenerated.custom_properties["regenerates"] == "4"


@pytest.mark.align(session_timeout=0.3)
def test_inactive_sessions_are_closed_once(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    history = converse(oa, ["hi"])
    sid = align.current_session()
    deadline = time.monotonic() + 5
    while "session_close" not in harness.event_types() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert harness.collector.store.session(sid).closed
    chat(oa, [*history[1:], user("back again")])  # continuing after the close starts a new session
    assert align.current_session() != sid
    assert harness.event_types().count("session_close") == 1


def test_tool_calling_loop_logs_user_turn_and_final_answer(harness) -> None:  # type: ignore[no-untyped-def]
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
    messages: list[Any] = [user("what is the weather in Paris?")]
    first = oa.chat.completions.create(model="local", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    final = (
        oa.chat.completions.create(model="local", messages=messages, tools=tools).choices[0].message.content
    )
    messages += [assistant(final or ""), user("thanks")]
    chat(oa, messages, tools=tools)
    assert harness.only_transcript() == [
        (1, "user", "what is the weather in Paris?"),
        (2, "assistant", "Based on the tool result: sunny"),
        (3, "user", "thanks"),
        (4, "assistant", "You said: thanks"),
    ]


def test_multipart_content_logs_text_and_placeholders(harness) -> None:  # type: ignore[no-untyped-def]
    content: Any = [
        {"type": "text", "text": "what is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    chat(harness.openai(), [{"role": "user", "content": content}])
    assert harness.only_transcript()[0] == (1, "user", "what is in this picture?\n[image]")


def test_feedback_on_a_response_object(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    reply = oa.chat.completions.create(model="local", messages=[user("rate me")])
    assert align.feedback(reply, align.FEEDBACK_THUMBS_UP) is True
    assert align.feedback("unknown-response-id", align.FEEDBACK_THUMBS_DOWN) is False
    with pytest.raises(align.ValidationError):
        align.feedback(reply, "meh")
    harness.flush()
    detail = harness.collector.store.session(align.current_session())
    assert [(m.index, [f.type for f in m.feedback]) for m in detail.messages] == [(1, []), (2, ["thumbs_up"])]


def test_instrumented_results_equal_uninstrumented(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    messages: Any = [user("same input")]

    def run() -> tuple[Any, ...]:
        completion = oa.chat.completions.create(model="local", messages=messages)
        chunks = list(oa.chat.completions.create(model="local", messages=messages, stream=True))
        response = oa.responses.create(model="local", input="same input")
        raw = oa.chat.completions.with_raw_response.create(model="local", messages=messages)
        return (
            completion.model_dump(exclude={"id", "created"}),
            [c.model_dump(exclude={"id", "created"}) for c in chunks],
            response.model_dump(exclude={"id", "created_at", "output"}),
            response.output_text,
            raw.status_code,
            type(completion),
            type(chunks[0]),
        )

    instrumented = run()
    align.uninstrument()
    assert run() == instrumented


def test_our_errors_are_contained_and_counted(harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def bad_redact(text: str, role: str) -> str:
        raise RuntimeError("redaction bug")

    monkeypatch.setattr(align.instrument.active_engine(), "redact", bad_redact)  # type: ignore[union-attr]
    oa = harness.openai()
    assert chat(oa, [user("secret 1234")]) == "You said: secret 1234"
    stream = oa.chat.completions.create(model="local", messages=[user("again")], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "You said: again"
    assert harness.client.stats()["internal_errors"]["log_message"] >= 2
    harness.flush()
    assert all(e["type"] != "message_create" for e in harness.collector.store.events())  # never unredacted


@pytest.mark.align(redact=lambda text, role: text.replace("1234", "****"))
def test_redact_hook_applies_before_enqueue(harness) -> None:  # type: ignore[no-untyped-def]
    chat(harness.openai(), [user("card 1234")])
    assert harness.only_transcript() == [(1, "user", "card ****"), (2, "assistant", "You said: card ****")]


def test_calls_still_work_after_client_close(harness) -> None:  # type: ignore[no-untyped-def]
    harness.client.close(2)
    oa = harness.openai()
    assert chat(oa, [user("after close")]) == "You said: after close"
    assert (
        "".join(
            c.choices[0].delta.content or ""
            for c in oa.chat.completions.create(model="local", messages=[user("x")], stream=True)
        )
        == "You said: x"
    )


def test_suppress_flag_skips_capture(harness) -> None:  # type: ignore[no-untyped-def]
    token = SUPPRESS_PROVIDER_CAPTURE.set(True)
    try:
        chat(harness.openai(), [user("handled by langchain")])
    finally:
        SUPPRESS_PROVIDER_CAPTURE.reset(token)
    assert harness.session_ids() == []


def test_clients_built_before_autoinstrument_are_captured(collector, llm) -> None:  # type: ignore[no-untyped-def]
    align.uninstrument()
    early = openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0)
    _ = early.chat.completions.with_raw_response  # touched before instrumenting
    client = align.autoinstrument(host=collector.url)
    try:
        early.chat.completions.with_raw_response.create(model="local", messages=[user("early")]).parse()
        assert client.flush(5)
        [summary] = collector.store.sessions()
        assert summary.message_count == 2
    finally:
        align.uninstrument()
        client.close(2)


def test_uninstrument_restores_originals_and_autoinstrument_is_idempotent(collector) -> None:  # type: ignore[no-untyped-def]
    from openai._base_client import AsyncAPIClient, SyncAPIClient
    from openai.lib.streaming.chat._completions import ChatCompletionStream

    align.uninstrument()
    originals = (
        SyncAPIClient.__dict__["request"],
        AsyncAPIClient.__dict__["request"],
        ChatCompletionStream.__dict__["close"],
    )
    client = align.autoinstrument(host=collector.url)
    assert align.autoinstrument(host="http://127.0.0.1:1") is client
    patched = SyncAPIClient.__dict__["request"]
    assert patched is not originals[0]
    assert patched.__wrapped__ is originals[0]  # wrapped once, not stacked
    align.uninstrument()
    align.uninstrument()
    assert (
        SyncAPIClient.__dict__["request"],
        AsyncAPIClient.__dict__["request"],
        ChatCompletionStream.__dict__["close"],
    ) == originals
    assert all(
        a is b
        for a, b in zip(
            (
                SyncAPIClient.__dict__["request"],
                AsyncAPIClient.__dict__["request"],
                ChatCompletionStream.__dict__["close"],
            ),
            originals,
            strict=True,
        )
    )
    assert "flush" not in vars(client)
    client.close(2)


def test_half_an_emoji_from_a_browser_among_20_other_users(harness) -> None:  # type: ignore[no-untyped-def]
    oa = harness.openai()
    for n in range(21):
        if n == 10:  # "I love it 😀".slice(0, -1) in JS; the SDK itself cannot send it
            with pytest.raises(UnicodeEncodeError):
                chat(oa, [user("I love it \ud83d")], user=f"user-{n}")
        else:
            chat(oa, [user(f"question {n}")], user=f"user-{n}")
    assert harness.client.flush(5)
    assert harness.client.stats()["dropped"] == {}
    transcripts = harness.transcripts()
    assert len(transcripts) == 21
    assert [(1, "user", "question 3"), (2, "assistant", "You said: question 3")] in transcripts
    assert [(1, "user", "I love it \ufffd")] in transcripts  # the user's turn, made encodable
