"""Implicit threading of LangChain apps that reshape their history: RunnableWithMessageHistory
behind ``trim_messages``, and an agent whose stored state keeps only the final messages. Real
ChatOpenAI over HTTP (local_llm), the global handler of ``autoinstrument()``, no session ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, trim_messages
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_fixtures import run_tool_loop
from langchain_openai import ChatOpenAI

if TYPE_CHECKING:
    from conftest import Harness  # tests/integrations/conftest.py (the `harness` fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def chat_model(harness: Harness, seed: int) -> ChatOpenAI:
    return ChatOpenAI(base_url=harness.llm.base_url, api_key="sk-test", max_retries=0, seed=seed)  # type: ignore[arg-type]


def test_runnable_with_message_history_behind_trim_messages(harness: Harness) -> None:
    stores: dict[str, InMemoryChatMessageHistory] = {}
    trimmer = trim_messages(max_tokens=4, token_counter=len, strategy="last", start_on="human")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a support bot."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    # The stored history is trimmed to its last 4 messages before the prompt (LangChain's recipe).
    chains = {
        seed: RunnableWithMessageHistory(
            {"question": lambda x: x["question"], "history": lambda x: trimmer.invoke(x["history"])}
            | prompt
            | chat_model(harness, seed),
            lambda sid: stores.setdefault(sid, InMemoryChatMessageHistory()),
            input_messages_key="question",
            history_messages_key="history",
        )
        for seed in (1, 2)
    }
    questions = [f"question {i}" for i in range(1, 7)]
    for question in questions:
        for seed, chain in chains.items():  # two look-alike conversations, interleaved
            chain.invoke({"question": question}, config={"configurable": {"session_id": f"app-{seed}"}})
    assert len(stores["app-1"].messages) == 12
    expected = {
        seed: [
            row
            for i, q in enumerate(questions)
            for row in ((2 * i + 1, "user", q), (2 * i + 2, "assistant", f"You said: {q} (take {seed})"))
        ]
        for seed in (1, 2)
    }
    assert harness.transcripts() == sorted(expected.values())


def test_agent_whose_state_keeps_only_final_messages(harness: Harness) -> None:
    model = chat_model(harness, 4)
    state: list[BaseMessage] = []  # what the app persists between requests
    answers = []
    for question in ["what is the weather in Paris?", "and what is the weather in Oslo?", "thanks"]:
        working: list[BaseMessage] = [*state, HumanMessage(question)]
        final: Any = run_tool_loop(model, working)
        answers.append(final.content)
        state += [HumanMessage(question), AIMessage(final.content)]  # tool steps dropped
    assert harness.only_transcript() == [
        (1, "user", "what is the weather in Paris?"),
        (2, "assistant", answers[0]),
        (3, "user", "and what is the weather in Oslo?"),
        (4, "assistant", answers[1]),
        (5, "user", "thanks"),
        (6, "assistant", answers[2]),
    ]
