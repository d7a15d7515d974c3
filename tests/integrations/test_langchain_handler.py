"""AlignCallbackHandler against LangChain's own fake chat models and a real ChatOpenAI over HTTP
(the local OpenAI-compatible server), delivering to the real local collector."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import openai
import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_fixtures import Reader, align_client, arun_tool_loop, reader, run_tool_loop
from langchain_openai import ChatOpenAI

import align_instrument as align
from align_instrument.integrations import langchain as lc_integration
from align_instrument.langchain import AlignCallbackHandler
from align_instrument.sessions import SUPPRESS_PROVIDER_CAPTURE

if TYPE_CHECKING:
    from conftest import Harness  # tests/integrations/conftest.py (the `harness` fixture)

__all__ = ["align_client", "reader"]  # fixtures used by name

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def chat_openai(harness_or_llm: Any, **kwargs: Any) -> ChatOpenAI:
    llm = getattr(harness_or_llm, "llm", harness_or_llm)
    kwargs.setdefault("model", "local")
    # A fresh async HTTP client: langchain-openai caches one per process, bound to the event loop of
    # the first asyncio.run(), and each test runs its own loop.
    kwargs.setdefault("http_async_client", openai.DefaultAsyncHttpxClient())
    return ChatOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0, **kwargs)  # type: ignore[arg-type]


def cfg(handler: AlignCallbackHandler | None = None, **metadata: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"metadata": metadata}
    if handler is not None:
        config["callbacks"] = [handler]
    return config


# --- sessions -----------------------------------------------------------------------------------------


def test_metadata_session_and_user(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = FakeListChatModel(responses=["Hello!", "Sure thing."])
    first = model.invoke([HumanMessage("Hi")], config=cfg(handler, session_id="meta-1", user_id="u-1"))
    second = model.invoke(
        [SystemMessage("be nice"), HumanMessage("Hi"), first, HumanMessage("Help me")],
        config=cfg(handler, session_id="meta-1", user_id="u-1"),
    )
    assert (first.content, second.content) == ("Hello!", "Sure thing.")
    assert reader.transcript("meta-1") == [
        (1, "user", "Hi"),
        (2, "assistant", "Hello!"),
        (3, "user", "Help me"),
        (4, "assistant", "Sure thing."),
    ]
    assert reader.user_of("meta-1") == "u-1"
    assert align_client.stats()["internal_errors"] == {}


def test_client_close_closes_the_handlers_sessions(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)
    FakeListChatModel(responses=["Bye!"]).invoke("Bye", config=cfg(handler, session_id="closing-1"))
    assert align_client.close(5) is True
    assert reader.collector.store.session("closing-1").closed
    assert align_client.stats()["dropped"] == {}


@pytest.mark.parametrize("key", ["align_session_id", "thread_id", "conversation_id"])
def test_other_metadata_keys(align_client: align.AlignClient, reader: Reader, key: str) -> None:
    handler = AlignCallbackHandler(client=align_client)
    FakeListChatModel(responses=["ok"]).invoke(
        "Hi", config=cfg(handler, **{key: f"by-{key}"}, align_user_id="au")
    )
    assert reader.transcript(f"by-{key}") == [(1, "user", "Hi"), (2, "assistant", "ok")]
    assert reader.user_of(f"by-{key}") == "au"


def test_scope_beats_metadata_and_handler_beats_scope(
    align_client: align.AlignClient, reader: Reader
) -> None:
    plain = AlignCallbackHandler(client=align_client)
    pinned = AlignCallbackHandler(client=align_client, session_id="pinned", user_id="handler-user")
    model = FakeListChatModel(responses=["one", "two"])
    with align.session("scoped", user_id="scope-user"):
        model.invoke("first", config=cfg(plain, session_id="ignored", user_id="meta-user"))
        model.invoke("second", config=cfg(pinned, session_id="ignored"))
    assert reader.transcript("scoped") == [(1, "user", "first"), (2, "assistant", "one")]
    assert reader.user_of("scoped") == "scope-user"
    assert reader.transcript("pinned") == [(1, "user", "second"), (2, "assistant", "two")]
    assert reader.user_of("pinned") == "handler-user"
    assert "ignored" not in reader.session_ids()


def test_implicit_threading_keeps_conversations_apart(
    align_client: align.AlignClient, reader: Reader
) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = FakeListChatModel(responses=["A1", "B1", "A2", "B2"])
    a: list[BaseMessage] = [HumanMessage("about apples")]
    b: list[BaseMessage] = [HumanMessage("about boats")]
    for history in (a, b, a, b):  # interleaved, two turns each
        history.append(model.invoke(history, config=cfg(handler)))
        if len(history) == 2:
            history.append(HumanMessage("and more?"))
    assert reader.transcripts() == [
        [
            (1, "user", "about apples"),
            (2, "assistant", "A1"),
            (3, "user", "and more?"),
            (4, "assistant", "A2"),
        ],
        [
            (1, "user", "about boats"),
            (2, "assistant", "B1"),
            (3, "user", "and more?"),
            (4, "assistant", "B2"),
        ],
    ]


def test_llm_prompt_and_chain(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)
    chain = ChatPromptTemplate.from_messages([("system", "terse"), ("human", "{q}")]) | FakeListChatModel(
        responses=["42"]
    )
    assert chain.invoke({"q": "meaning?"}, config=cfg(handler, session_id="c-1")).content == "42"
    FakeListLLM(responses=["completion"]).invoke("a prompt", config=cfg(handler, session_id="llm-1"))
    assert reader.transcript("c-1") == [(1, "user", "meaning?"), (2, "assistant", "42")]
    assert reader.transcript("llm-1") == [(1, "user", "a prompt"), (2, "assistant", "completion")]


# --- streaming, async, batch, errors ------------------------------------------------------------------


def test_stream_astream_and_astream_events(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = GenericFakeChatModel(messages=iter(["streamed reply one", "streamed reply two", "events reply"]))
    chunks = [c.content for c in model.stream("s1", config=cfg(handler, session_id="st-1"))]
    assert "".join(str(c) for c in chunks) == "streamed reply one"

    async def run() -> tuple[str, list[str]]:
        got = [str(c.content) async for c in model.astream("s2", config=cfg(handler, session_id="st-2"))]
        events = [
            e["event"]
            async for e in model.astream_events("s3", config=cfg(handler, session_id="st-3"), version="v2")
        ]
        return "".join(got), events

    text, events = asyncio.run(run())
    assert text == "streamed reply two" and "on_chat_model_end" in events
    assert reader.transcript("st-1") == [(1, "user", "s1"), (2, "assistant", "streamed reply one")]
    assert reader.transcript("st-2") == [(1, "user", "s2"), (2, "assistant", "streamed reply two")]
    assert reader.transcript("st-3") == [(1, "user", "s3"), (2, "assistant", "events reply")]


def test_stream_abandoned_early_logs_partial_reply(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = GenericFakeChatModel(messages=iter(["one two three four"]))
    stream = model.stream("go", config=cfg(handler, session_id="cut-1"))
    first = next(stream)
    stream.close()
    assert first.content == "one"
    assert not SUPPRESS_PROVIDER_CAPTURE.get()
    assert reader.transcript("cut-1") == [(1, "user", "go"), (2, "assistant", "one")]


def test_async_invoke_and_batch(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)

    async def run() -> None:
        model = FakeListChatModel(responses=["async answer"])
        await model.ainvoke("async question", config=cfg(handler, session_id="as-1"))
        replies = await FakeListChatModel(responses=["r"]).abatch(["x", "y"], config=cfg(handler))
        assert [r.content for r in replies] == ["r", "r"]

    asyncio.run(run())
    replies = FakeListChatModel(responses=["same"]).batch(["same question"] * 3, config=cfg(handler))
    assert [r.content for r in replies] == ["same"] * 3
    transcripts = reader.transcripts()
    assert [(1, "user", "async question"), (2, "assistant", "async answer")] in transcripts
    # batch: each input is its own conversation, even when inputs are equal
    assert transcripts.count([(1, "user", "same question"), (2, "assistant", "same")]) == 3
    assert [(1, "user", "x"), (2, "assistant", "r")] in transcripts
    assert [(1, "user", "y"), (2, "assistant", "r")] in transcripts
    assert len(transcripts) == 6


def test_error_still_logs_user_turn(align_client: align.AlignClient, reader: Reader, llm: Any) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = chat_openai(llm, model="error-500")
    with pytest.raises(Exception, match="500"):
        model.invoke("will fail", config=cfg(handler, session_id="err-1"))
    assert not SUPPRESS_PROVIDER_CAPTURE.get()

    async def run() -> None:
        with pytest.raises(Exception, match="500"):
            await model.ainvoke("will fail too", config=cfg(handler, session_id="err-2"))
        assert not SUPPRESS_PROVIDER_CAPTURE.get()

    asyncio.run(run())
    assert reader.transcript("err-1") == [(1, "user", "will fail")]
    assert reader.transcript("err-2") == [(1, "user", "will fail too")]


# --- a real ChatOpenAI over HTTP -------------------------------------------------------------------------


def test_tool_agent_loop_logs_user_turn_and_final_answer(
    align_client: align.AlignClient, reader: Reader, llm: Any
) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = chat_openai(llm)
    history: list[BaseMessage] = [
        SystemMessage("You can look up weather."),
        HumanMessage("What is the weather in Oslo?"),
    ]
    answer = run_tool_loop(model, history, config=cfg(handler))
    assert "sunny" in str(answer.content)
    history.append(HumanMessage("And in Rome? Tell me the weather"))
    second = asyncio.run(arun_tool_loop(model, history, config=cfg(handler)))
    (transcript,) = reader.transcripts()  # the tool steps threaded the loop into one session
    assert transcript == [
        (1, "user", "What is the weather in Oslo?"),
        (2, "assistant", str(answer.content)),
        (3, "user", "And in Rome? Tell me the weather"),
        (4, "assistant", str(second.content)),
    ]


def test_chat_openai_streaming_with_handler(
    align_client: align.AlignClient, reader: Reader, llm: Any
) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = chat_openai(llm)
    text = "".join(
        str(c.content) for c in model.stream("stream please", config=cfg(handler, session_id="oa-s"))
    )

    async def run() -> str:
        return "".join(
            [
                str(c.content)
                async for c in model.astream("astream please", config=cfg(handler, session_id="oa-a"))
            ]
        )

    atext = asyncio.run(run())
    assert reader.transcript("oa-s") == [(1, "user", "stream please"), (2, "assistant", text)]
    assert reader.transcript("oa-a") == [(1, "user", "astream please"), (2, "assistant", atext)]


# --- autoinstrument: global registration, no double counting ------------------------------------------


def _one_user_one_assistant(harness: Harness) -> list[list[tuple[int, str, str]]]:
    transcripts = harness.transcripts()
    for transcript in transcripts:
        roles = [role for _, role, _ in transcript]
        assert roles == ["user", "assistant"] * (len(roles) // 2), transcript
    return transcripts


def test_autoinstrument_chat_openai_logs_each_turn_once(harness: Harness) -> None:
    model = chat_openai(harness)
    first = model.invoke([HumanMessage("Hello sync")])
    model.invoke([HumanMessage("Hello sync"), first, HumanMessage("again")])
    "".join(str(c.content) for c in model.stream("Hello stream"))
    model.batch(["sync batch one", "sync batch two"])
    chain = ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")]) | model

    async def run() -> None:
        await model.ainvoke("Hello async")
        assert not SUPPRESS_PROVIDER_CAPTURE.get()  # not leaked into this task
        [c async for c in model.astream("Hello astream")]
        assert not SUPPRESS_PROVIDER_CAPTURE.get()
        await model.abatch(["batch one", "batch two"])
        events = [e["event"] async for e in chain.astream_events({"q": "Hello events"}, version="v2")]
        assert "on_chat_model_end" in events
        assert not SUPPRESS_PROVIDER_CAPTURE.get()
        if hasattr(model, "stream_events"):  # langchain-core >= 1.x: the v3 event stream (beta)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v3 = await model.astream_events("Hello v3", version="v3")  # type: ignore[call-overload]
                assert [e async for e in v3]
            # Its run ends in a producer task, just after the last event reached us.
            for _ in range(100):
                if not SUPPRESS_PROVIDER_CAPTURE.get():
                    break
                await asyncio.sleep(0.01)
            assert not SUPPRESS_PROVIDER_CAPTURE.get()
        # a direct OpenAI call after LangChain ones in the same task is still captured
        await harness.async_openai().chat.completions.create(
            model="local", messages=[{"role": "user", "content": "direct async"}]
        )

    asyncio.run(run())
    assert not SUPPRESS_PROVIDER_CAPTURE.get()
    harness.openai().chat.completions.create(
        model="local", messages=[{"role": "user", "content": "direct sync"}]
    )
    transcripts = _one_user_one_assistant(harness)
    users = sorted(t[0][2] for t in transcripts)
    expected = ["Hello sync", "Hello stream", "Hello async", "Hello astream", "batch one", "batch two"]
    expected += ["sync batch one", "sync batch two", "Hello events"]
    expected += ["Hello v3"] if hasattr(model, "stream_events") else []
    assert users == sorted([*expected, "direct async", "direct sync"])
    threaded = next(t for t in transcripts if t[0][2] == "Hello sync")
    assert [(i, role) for i, role, _ in threaded] == [
        (1, "user"),
        (2, "assistant"),
        (3, "user"),
        (4, "assistant"),
    ]
    assert harness.client.stats()["internal_errors"] == {}


def test_autoinstrument_stream_abandoned_early(harness: Harness) -> None:
    model = chat_openai(harness, model="slow-5")
    for chunk in model.stream("one two three four five six"):
        if chunk.content:
            break
    assert not SUPPRESS_PROVIDER_CAPTURE.get()

    async def run() -> None:
        async for chunk in model.astream("seven eight nine ten eleven"):
            if chunk.content:
                break
        await asyncio.sleep(0.2)  # the abandoned generator is closed by the loop
        assert not SUPPRESS_PROVIDER_CAPTURE.get()  # the run ended: not suppressed in this task

    asyncio.run(run())
    transcripts = _one_user_one_assistant(harness)
    assert sorted(t[0][2] for t in transcripts) == [
        "one two three four five six",
        "seven eight nine ten eleven",
    ]
    # the partial replies (the first word the app read), marked incomplete
    assert [t[1][1:] for t in transcripts] == [("assistant", "You ")] * 2
    props = [
        m.custom_properties
        for sid in harness.session_ids()
        for m in harness.messages(sid)
        if m.role == "assistant"
    ]
    assert all(p.get("incomplete") == "true" for p in props), props


def test_autoinstrument_agent_loop_async_once(harness: Harness) -> None:
    model = chat_openai(harness)
    history: list[BaseMessage] = [HumanMessage("Weather in Paris?")]
    answer = asyncio.run(arun_tool_loop(model, history))
    assert harness.transcripts() == [
        [(1, "user", "Weather in Paris?"), (2, "assistant", str(answer.content))]
    ]


def test_user_handler_replaces_global_one(harness: Harness) -> None:
    explicit = AlignCallbackHandler(session_id="explicit-1", user_id="u-x")
    FakeListChatModel(responses=["once"]).invoke("only once", config=cfg(explicit))
    chain = RunnableLambda(lambda x: x) | FakeListChatModel(responses=["nested once"])
    chain.invoke("nested", config=cfg(explicit))
    assert harness.session_ids() == ["explicit-1"]
    assert harness.transcript("explicit-1") == [
        (1, "user", "only once"),
        (2, "assistant", "once"),
        (3, "user", "nested"),
        (4, "assistant", "nested once"),
    ]


def test_feedback_by_chat_and_chain_run_id(harness: Harness) -> None:
    chain_run, model_run = uuid.uuid4(), uuid.uuid4()
    model = FakeListChatModel(responses=["rated answer", "chain answer"])
    model.invoke("rate me", config={"run_id": model_run, "metadata": {"session_id": "fb-1"}})
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    chain.invoke({"q": "rate the chain"}, config={"run_id": chain_run, "metadata": {"session_id": "fb-1"}})
    assert align.message_ref(model_run) == ("fb-1", 2)
    assert align.message_ref(str(chain_run)) == ("fb-1", 4)
    assert align.feedback(model_run, "thumbs_up")
    assert align.feedback(chain_run, "thumbs_down")
    assert not align.feedback(uuid.uuid4(), "thumbs_down")
    detail = harness.collector.store.session("fb-1")
    harness.flush()
    detail = harness.collector.store.session("fb-1")
    assert detail is not None
    assert [(m.index, [f.type for f in m.feedback]) for m in detail.messages] == [
        (1, []),
        (2, ["thumbs_up"]),
        (3, []),
        (4, ["thumbs_down"]),
    ]


def test_feedback_by_the_run_id_of_a_chain_around_an_agent_loop(harness: Harness) -> None:
    model = chat_openai(harness)
    agent = RunnableLambda(lambda question: run_tool_loop(model, [HumanMessage(question)]))
    chain_run = uuid.uuid4()
    answer = agent.invoke("What's the weather in Lima?", config={"run_id": chain_run})
    (sid,) = harness.session_ids()
    assert harness.transcript(sid) == [
        (1, "user", "What's the weather in Lima?"),
        (2, "assistant", answer.content),
    ]
    assert align.message_ref(chain_run) == (sid, 2)  # the final answer, not a tool-call step
    assert align.current_session() == sid
    assert align.feedback(chain_run, "thumbs_up")
    harness.flush()
    detail = harness.collector.store.session(sid)
    assert detail is not None and [f.type for f in detail.messages[1].feedback] == ["thumbs_up"]


def test_feedback_through_an_explicit_handler(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)
    run_id = uuid.uuid4()
    FakeListChatModel(responses=["meh"]).invoke(
        "rate", config={**cfg(handler, session_id="fb-2"), "run_id": run_id}
    )
    assert handler.message_ref(run_id) == ("fb-2", 2)
    assert handler.feedback(str(run_id), "thumbs_down")
    assert not handler.feedback(uuid.uuid4(), "thumbs_up")
    with pytest.raises(align.ValidationError):
        handler.feedback(run_id, "meh")
    assert reader.feedback("fb-2") == [(2, "thumbs_down")]


def test_uninstrument_turns_global_handler_off(harness: Harness) -> None:
    assert lc_integration.global_handler() is not None
    align.uninstrument()
    assert lc_integration.global_handler() is None
    FakeListChatModel(responses=["unseen"]).invoke("not logged")
    assert harness.client.flush(5)
    assert harness.collector.store.sessions() == []


# --- never break the chain ------------------------------------------------------------------------------


class BrokenHandler(AlignCallbackHandler):
    """A handler whose message conversion fails, as a bug of ours would."""

    def _items(self, messages: Any) -> Any:
        raise RuntimeError("bug inside the handler")


def test_internal_error_is_contained_and_counted(harness: Harness) -> None:
    model = chat_openai(harness)
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    expected = chain.invoke({"q": "reference"}).content
    out = chain.invoke({"q": "reference"}, config={"callbacks": [BrokenHandler()]})
    assert out.content == expected
    errors = harness.client.stats()["internal_errors"]
    assert errors.get("langchain_start") == 1
    # The failed handler did not claim the run: the OpenAI integration still logged that turn.
    transcripts = harness.transcripts()
    assert len(transcripts) == 2 and all(t[0][2] == "reference" for t in transcripts)
    assert not SUPPRESS_PROVIDER_CAPTURE.get()


def test_importing_the_package_does_not_import_langchain() -> None:
    code = (
        "import sys, align_instrument, align_instrument.instrument;"
        "import align_instrument.integrations.langchain as m;"
        "assert m.langchain_available();"
        "print(sorted(k for k in sys.modules if k.startswith('langchain')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ai_message_history_content_blocks_are_text(align_client: align.AlignClient, reader: Reader) -> None:
    handler = AlignCallbackHandler(client=align_client)
    model = FakeListChatModel(responses=["seen it"])
    message = HumanMessage(
        content=[{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}]
    )
    model.invoke(
        [message, AIMessage("prior"), HumanMessage("now?")], config=cfg(handler, session_id="blocks")
    )
    assert reader.transcript("blocks") == [
        (1, "user", "look\n[image]"),
        (2, "assistant", "prior"),
        (3, "user", "now?"),
        (4, "assistant", "seen it"),
    ]
