"""Sessions from anthropic calls: whole-history threading (string and block content, SDK objects
appended as they come back), the tool-use loop as one turn, users from ``metadata.user_id``,
what is and is not logged, scopes, feedback, and LangChain's ChatAnthropic counted once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anthropic_helpers import SYSTEM, WEATHER_TOOL, anthropic_client, async_anthropic_client, text_of

import align_instrument as align


def _create(client: Any, messages: list[Any], **kwargs: Any) -> Any:
    kwargs.setdefault("system", SYSTEM)
    return client.messages.create(model="claude-local", max_tokens=256, messages=messages, **kwargs)


def expected(texts: list[str]) -> list[tuple[int, str, str]]:
    out = []
    for i, text in enumerate(texts):
        out += [(2 * i + 1, "user", text), (2 * i + 2, "assistant", f"You said: {text}")]
    return out


def test_whole_history_app_is_one_session(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    history: list[Any] = []
    texts = ["hi", "how are you", "bye"]
    for text in texts:
        history.append({"role": "user", "content": text})
        reply = _create(client, history)
        history.append({"role": "assistant", "content": text_of(reply)})
    assert harness.only_transcript() == expected(texts)
    assert harness.event_types().count("session_open") == 1


def test_history_of_content_blocks_and_sdk_objects_threads(harness) -> None:  # type: ignore[no-untyped-def]
    # Anthropic's docs append ``response.content`` (SDK block objects) and use block lists.
    client = anthropic_client(harness.llm)
    history: list[Any] = []
    texts = ["first question", "second question", "third question"]
    for text in texts:
        history.append({"role": "user", "content": [{"type": "text", "text": text}]})
        reply = _create(client, history)
        history.append({"role": reply.role, "content": reply.content})
    assert harness.only_transcript() == expected(texts)


def test_async_whole_history_app(harness) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with async_anthropic_client(harness.llm) as client:
            history: list[Any] = []
            for text in ["one", "two"]:
                history.append({"role": "user", "content": text})
                async with client.messages.stream(
                    model="claude-local", max_tokens=64, messages=history
                ) as stream:
                    final = await stream.get_final_message()
                history.append({"role": "assistant", "content": final.content})

    asyncio.run(run())
    assert harness.only_transcript() == expected(["one", "two"])


def test_tool_use_loop_is_one_turn_and_the_conversation_goes_on(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    question = "What is the weather in Paris?"
    history: list[Any] = [{"role": "user", "content": question}]
    reply = _create(client, history, tools=[WEATHER_TOOL])
    assert reply.stop_reason == "tool_use"
    [call] = [b for b in reply.content if b.type == "tool_use"]
    history.append({"role": "assistant", "content": reply.content})
    history.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C and sunny"}],
        }
    )
    answer = _create(client, history, tools=[WEATHER_TOOL])
    assert text_of(answer) == "Based on the tool result: 18C and sunny"
    history += [{"role": "assistant", "content": answer.content}, {"role": "user", "content": "Thanks!"}]
    _create(client, history, tools=[WEATHER_TOOL])
    assert harness.only_transcript() == [
        (1, "user", question),
        (2, "assistant", "Based on the tool result: 18C and sunny"),
        (3, "user", "Thanks!"),
        (4, "assistant", "You said: Thanks!"),
    ]
    props = harness.messages(harness.session_ids()[0])[1].custom_properties
    assert props["finish_reason"] == "end_turn"


def test_streamed_tool_use_threads_like_the_plain_one(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    history: list[Any] = [{"role": "user", "content": "weather in Rome?"}]
    with client.messages.stream(
        model="claude-local", max_tokens=64, messages=history, tools=[WEATHER_TOOL]
    ) as s:
        reply = s.get_final_message()
    [call] = [b for b in reply.content if b.type == "tool_use"]
    assert call.input == {"city": "Rome"}
    history += [
        {"role": "assistant", "content": reply.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "warm"}]},
    ]
    _create(client, history, tools=[WEATHER_TOOL])
    assert harness.only_transcript() == [
        (1, "user", "weather in Rome?"),
        (2, "assistant", "Based on the tool result: warm"),
    ]


def test_metadata_user_id_is_the_user_and_keeps_same_openings_apart(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    histories: dict[str, list[Any]] = {"alice": [], "bob": []}
    for turn in range(2):
        for name, history in histories.items():
            history.append({"role": "user", "content": "hello" if turn == 0 else f"{name} again"})
            reply = _create(client, history, metadata={"user_id": name})
            history.append({"role": "assistant", "content": text_of(reply)})
    harness.flush()
    sessions = harness.collector.store.sessions()
    assert sorted(s.user_id for s in sessions) == ["alice", "bob"]
    for summary in sessions:
        assert harness.transcript(summary.session_id) == expected(["hello", f"{summary.user_id} again"])


def test_system_is_not_logged_images_and_documents_are_placeholders(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a memo"}}
    content = [image, document, {"type": "text", "text": "What is in these?"}]
    _create(
        client, [{"role": "user", "content": content}], system=[{"type": "text", "text": "SECRET PROMPT"}]
    )
    transcript = harness.only_transcript()
    assert transcript[0] == (1, "user", "[image]\n[document]\nWhat is in these?")
    assert not any("SECRET" in text for _, _, text in transcript)


@pytest.mark.align(
    assistant_properties=(
        "model",
        "input_tokens",
        "output_tokens",
        "finish_reason",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
)
def test_cache_tokens_are_properties_when_asked_for(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    system = [{"type": "text", "text": "a long cached system prompt", "cache_control": {"type": "ephemeral"}}]
    _create(client, [{"role": "user", "content": "cached?"}], system=system)
    props = harness.messages(harness.session_ids()[0])[1].custom_properties
    assert props["cache_read_input_tokens"] == "5"
    assert props["cache_creation_input_tokens"] == "0"
    assert props["input_tokens"] == "1"


def test_scope_sets_session_and_user(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    with align.session("support-7", user_id="user-9"):
        _create(client, [{"role": "user", "content": "scoped"}], metadata={"user_id": "ignored"})
        assert align.current_session() == "support-7"
    assert harness.transcript("support-7") == expected(["scoped"])
    assert harness.collector.store.session("support-7").user_id == "user-9"


def test_feedback_and_message_ref_on_a_message_and_a_raw_stream(harness) -> None:  # type: ignore[no-untyped-def]
    client = anthropic_client(harness.llm)
    reply = _create(client, [{"role": "user", "content": "rate me"}])
    assert align.message_ref(reply) == align.MessageRef(align.current_session(), 2)
    assert align.feedback(reply, align.FEEDBACK_THUMBS_UP) is True
    stream = client.messages.with_raw_response.create(
        model="claude-local", max_tokens=64, messages=[{"role": "user", "content": "stream me"}], stream=True
    ).parse()
    for _ in stream:
        pass
    assert align.feedback(stream, align.FEEDBACK_THUMBS_DOWN) is True
    assert align.feedback("msg_unknown", align.FEEDBACK_THUMBS_DOWN) is False
    rated = {}
    for sid in harness.session_ids():
        for m in harness.messages(sid):
            rated[m.content] = [f.type for f in m.feedback]
    assert rated == {
        "rate me": [],
        "You said: rate me": ["thumbs_up"],
        "stream me": [],
        "You said: stream me": ["thumbs_down"],
    }


def test_our_error_never_breaks_the_call(harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from align_instrument.integrations.anthropic import _response

    def broken(self: Any, response: Any) -> None:
        raise RuntimeError("bug in the instrumentation")

    monkeypatch.setattr(_response.AnthropicReply, "read_response", broken)
    reply = _create(anthropic_client(harness.llm), [{"role": "user", "content": "still works"}])
    assert text_of(reply) == "You said: still works"
    assert harness.client.stats()["internal_errors"] == {"anthropic_response": 1}


def test_chat_anthropic_over_autoinstrument_is_counted_once(harness) -> None:  # type: ignore[no-untyped-def]
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import HumanMessage

    model = ChatAnthropic(  # type: ignore[call-arg]
        model="claude-local",
        base_url=harness.llm.anthropic_base_url,
        api_key="test-anthropic-key",
        max_retries=0,
        max_tokens=64,
    )
    first = model.invoke([HumanMessage("Hello Claude")])
    model.invoke([HumanMessage("Hello Claude"), first, HumanMessage("again")])
    "".join(str(c.content) for c in model.stream("Hello stream"))

    async def run() -> None:
        await model.ainvoke("Hello async")

    asyncio.run(run())
    _create(anthropic_client(harness.llm), [{"role": "user", "content": "direct"}])  # still captured after
    assert harness.transcripts() == sorted(
        [
            expected(["Hello Claude", "again"]),
            expected(["Hello stream"]),
            expected(["Hello async"]),
            expected(["direct"]),
        ]
    )
    assert harness.client.stats()["internal_errors"] == {}
