"""AlignChatMessageHistory: any LangChain history logged as one Align session, alone and with
RunnableWithMessageHistory, with and without autoinstrument(), read back from the real collector."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_fixtures import ListHistory, Reader, align_client, reader

import align_instrument as align
from align_instrument.integrations.langchain._history import history_owns_session, open_history_count
from align_instrument.langchain import AlignChatMessageHistory

if TYPE_CHECKING:
    from conftest import Harness  # tests/integrations/conftest.py (the `harness` fixture)

__all__ = ["align_client", "reader"]  # fixtures used by name

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_opens_identifies_logs_and_closes(align_client: align.AlignClient, reader: Reader) -> None:
    history = AlignChatMessageHistory(
        ListHistory(),
        align_client,
        "h-1",
        "u-1",
        assistant_id="bot",
        user_info={
            "display_name": "Ada",
            "country_code": "GB",
            "create_time": datetime(2024, 1, 1, tzinfo=timezone.utc),
        },
    )
    history.add_user_message("Hi")
    history.add_message(SystemMessage("not logged"))
    history.add_ai_message("Hello!")
    history.add_messages(
        [
            HumanMessage("weather?"),
            AIMessage("", tool_calls=[{"id": "c1", "name": "weather", "args": {}}]),
            ToolMessage("sunny", tool_call_id="c1"),
            AIMessage("It is sunny."),
        ]
    )
    assert [m.type for m in history.messages] == ["human", "system", "ai", "human", "ai", "tool", "ai"]
    history.close()
    history.close()  # idempotent
    assert reader.transcript("h-1") == [
        (1, "user", "Hi"),
        (2, "assistant", "Hello!"),
        (3, "user", "weather?"),
        (4, "assistant", "It is sunny."),
    ]
    types = reader.event_types()
    assert types[:2] == ["session_open", "user_recognize"] and types.count("session_close") == 1
    user = reader.collector.store.user("u-1")
    assert user is not None and user.display_name == "Ada"
    summary = reader.collector.store.session("h-1")
    assert summary is not None and summary.assistant_id == "bot" and summary.close_time is not None


def test_reopened_backend_continues_numbering_and_clear_never_reuses(
    align_client: align.AlignClient, reader: Reader
) -> None:
    backend = ListHistory([HumanMessage("old q"), AIMessage("old a")])  # persisted earlier
    history = AlignChatMessageHistory(backend, align_client, "h-2", "u-2")
    history.add_user_message("new q")
    history.clear()
    history.add_ai_message("after clear")
    assert reader.transcript("h-2") == [(3, "user", "new q"), (4, "assistant", "after clear")]
    assert align_client.stats()["internal_errors"] == {}
    history.close()


def test_backend_errors_reach_the_caller_and_nothing_is_logged(
    align_client: align.AlignClient, reader: Reader
) -> None:
    class FullHistory(ListHistory):
        def add_messages(self, messages: Sequence[BaseMessage]) -> None:
            raise OSError("disk full")

    history = AlignChatMessageHistory(FullHistory(), align_client, "h-3", "u-3")
    with pytest.raises(OSError, match="disk full"):
        history.add_user_message("lost")
    assert reader.transcript("h-3") == []
    history.close()


def test_an_unclosed_history_stops_owning_its_session_when_collected(align_client: align.AlignClient) -> None:
    before = open_history_count()
    history = AlignChatMessageHistory(ListHistory(), align_client, "h-gc", "u-gc")
    assert history_owns_session("h-gc") and open_history_count() == before + 1
    del history
    gc.collect()
    assert not history_owns_session("h-gc") and open_history_count() == before


def _chat_with_history(
    store: dict[str, AlignChatMessageHistory], client: align.AlignClient, responses: list[str]
):  # type: ignore[no-untyped-def]
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are helpful."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = FakeListChatModel(responses=responses)

    def get_history(session_id: str) -> AlignChatMessageHistory:
        if session_id not in store:
            store[session_id] = AlignChatMessageHistory(ListHistory(), client, session_id, "user-rh")
        return store[session_id]

    return RunnableWithMessageHistory(
        prompt | model, get_history, input_messages_key="question", history_messages_key="history"
    )


def test_runnable_with_message_history_sync_and_async(
    align_client: align.AlignClient, reader: Reader
) -> None:
    store: dict[str, AlignChatMessageHistory] = {}
    chat = _chat_with_history(store, align_client, ["first answer", "second answer", "async answer"])
    config = {"configurable": {"session_id": "rh-1"}}
    assert chat.invoke({"question": "first?"}, config=config).content == "first answer"
    assert chat.invoke({"question": "second?"}, config=config).content == "second answer"
    asyncio.run(chat.ainvoke({"question": "async?"}, config=config))
    assert reader.transcript("rh-1") == [
        (1, "user", "first?"),
        (2, "assistant", "first answer"),
        (3, "user", "second?"),
        (4, "assistant", "second answer"),
        (5, "user", "async?"),
        (6, "assistant", "async answer"),
    ]
    store["rh-1"].close()


def test_runnable_with_message_history_under_autoinstrument_logs_once(harness: Harness) -> None:
    store: dict[str, AlignChatMessageHistory] = {}
    chat = _chat_with_history(store, harness.client, ["one", "two"])
    config = {"configurable": {"session_id": "rh-auto"}}
    chat.invoke({"question": "q1"}, config=config)
    chat.invoke({"question": "q2"}, config=config)
    # The global handler leaves the runs to the history: one session, each message once.
    assert harness.session_ids() == ["rh-auto"]
    assert harness.transcript("rh-auto") == [
        (1, "user", "q1"),
        (2, "assistant", "one"),
        (3, "user", "q2"),
        (4, "assistant", "two"),
    ]
    store["rh-auto"].close()
    # Closed: the handler logs such runs again (by implicit threading, as for any run).
    FakeListChatModel(responses=["handler"]).invoke("after close")
    assert len(harness.session_ids()) == 2


def test_manual_use_under_autoinstrument_logs_once_with_session_metadata(harness: Harness) -> None:
    history = AlignChatMessageHistory(ListHistory(), harness.client, "manual-1", "u-m")
    model = FakeListChatModel(responses=["manual answer"])
    history.add_user_message("manual question")
    reply = model.invoke(history.messages, config={"metadata": {"session_id": history.session_id}})
    history.add_message(reply)
    history.close()
    assert harness.session_ids() == ["manual-1"]
    assert harness.transcript("manual-1") == [
        (1, "user", "manual question"),
        (2, "assistant", "manual answer"),
    ]
