"""A LlamaIndex agent with a tool, on an LLM that calls the real openai SDK (local_llm), under
autoinstrument(): the tool loop is one turn, the memory names the session, and the openai call
underneath each LlamaIndex LLM call is not logged a second time."""

from __future__ import annotations

import asyncio

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import Memory
from llama_index.core.tools import FunctionTool
from llamaindex_fixtures import LocalOpenAILLM


def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"18C and sunny in {city}"


def test_function_agent_with_a_tool_is_one_session_counted_once(harness) -> None:  # type: ignore[no-untyped-def]
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=get_weather)],
        llm=LocalOpenAILLM(base_url=harness.llm.base_url),
        system_prompt="You answer weather questions.",
    )
    memory = Memory.from_defaults(session_id="agent-1")

    async def run() -> list[str]:
        first = await agent.run(user_msg="What is the weather in Paris?", memory=memory)
        second = await agent.run(user_msg="Thanks!", memory=memory)
        return [str(first), str(second)]

    answers = asyncio.run(run())
    assert answers == ["Based on the tool result: 18C and sunny in Paris", "You said: Thanks!"]
    assert harness.session_ids() == ["agent-1"]
    assert harness.transcript("agent-1") == [
        (1, "user", "What is the weather in Paris?"),
        (2, "assistant", answers[0]),
        (3, "user", "Thanks!"),
        (4, "assistant", answers[1]),
    ]
    assert harness.client.stats()["internal_errors"] == {}


def test_chat_engine_over_an_openai_llm_is_counted_once_and_direct_calls_still_are(harness) -> None:  # type: ignore[no-untyped-def]
    engine = SimpleChatEngine.from_defaults(llm=LocalOpenAILLM(base_url=harness.llm.base_url))
    engine.chat("hello")
    "".join(engine.stream_chat("streamed").response_gen)
    harness.openai().chat.completions.create(model="local", messages=[{"role": "user", "content": "direct"}])
    assert harness.transcripts() == sorted(
        [
            [
                (1, "user", "hello"),
                (2, "assistant", "You said: hello"),
                (3, "user", "streamed"),
                (4, "assistant", "You said: streamed"),
            ],
            [(1, "user", "direct"), (2, "assistant", "You said: direct")],
        ]
    )
