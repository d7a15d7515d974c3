"""A LlamaIndex agent with a tool, on an LLM that calls the real openai SDK (local_llm), under
autoinstrument(): the tool loop is one turn, the memory names the session, and the openai call
(or anthropic) call underneath each LlamaIndex LLM call is not logged a second time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import CompletionResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.memory import Memory
from llama_index.core.tools import FunctionTool
from llamaindex_fixtures import LocalOpenAILLM

# LlamaIndex's workflow constructor inspects pydantic models with inspect.getmembers (its warnings).
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated.*:DeprecationWarning")


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


class ClaudeBackedLLM(MockLLM):
    """A LlamaIndex LLM whose completions come from the real anthropic SDK (local_llm)."""

    base_url: str = ""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        client = anthropic_client_for(self.base_url)
        reply = client.messages.create(
            model="claude-local", max_tokens=64, messages=[{"role": "user", "content": prompt}]
        )
        return CompletionResponse(text="".join(b.text for b in reply.content if b.type == "text"))


def anthropic_client_for(base_url: str) -> Any:
    from anthropic import Anthropic

    return Anthropic(base_url=base_url, api_key="test-anthropic-key", max_retries=0)


def test_chat_engine_over_an_anthropic_llm_is_counted_once(harness) -> None:  # type: ignore[no-untyped-def]
    engine = SimpleChatEngine.from_defaults(
        llm=ClaudeBackedLLM(base_url=harness.llm.anthropic_base_url),
        memory=Memory.from_defaults(session_id="claude-engine"),
    )
    first = str(engine.chat("hello claude"))
    assert first.startswith("You said: ")
    assert harness.session_ids() == ["claude-engine"]  # no second session from the anthropic call
    assert harness.transcript("claude-engine") == [(1, "user", "hello claude"), (2, "assistant", first)]
