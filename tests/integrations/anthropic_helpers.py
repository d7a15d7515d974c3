"""Calling every captured path of the anthropic SDK the way apps do (shared by the anthropic tests)."""

from __future__ import annotations

from typing import Any

from anthropic import Anthropic, AsyncAnthropic

from align_instrument.local_llm import RunningLLM

PATHS = (
    "create",
    "stream",
    "helper_text",
    "helper_final",
    "helper_events",
    "raw",
    "raw_stream",
    "streaming_response",
    "beta_create",
)
STREAM_PATHS = frozenset({"stream", "helper_text", "helper_final", "helper_events", "raw_stream"})

SYSTEM = "You are a helpful support agent. Today is 2026-12-04."

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def anthropic_client(llm: RunningLLM, **kwargs: Any) -> Anthropic:
    kwargs.setdefault("api_key", "test-anthropic-key")
    kwargs.setdefault("max_retries", 0)
    return Anthropic(base_url=llm.anthropic_base_url, **kwargs)


def async_anthropic_client(llm: RunningLLM, **kwargs: Any) -> AsyncAnthropic:
    kwargs.setdefault("api_key", "test-anthropic-key")
    kwargs.setdefault("max_retries", 0)
    return AsyncAnthropic(base_url=llm.anthropic_base_url, **kwargs)


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def call(client: Anthropic, path: str, model: str, text: str) -> str:
    """Make one call through ``path`` and return the reply text the app would show."""
    kwargs: Any = {
        "model": model,
        "max_tokens": 256,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": text}],
    }
    messages = client.messages
    if path == "create":
        return text_of(messages.create(**kwargs))
    if path == "stream":
        events = messages.create(**kwargs, stream=True)
        return "".join(
            e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    if path == "helper_text":
        with messages.stream(**kwargs) as stream:
            return "".join(stream.text_stream)
    if path == "helper_final":
        with messages.stream(**kwargs) as stream:
            return text_of(stream.get_final_message())
    if path == "helper_events":
        with messages.stream(**kwargs) as stream:
            return "".join(e.text for e in stream if e.type == "text")
    if path == "raw":
        return text_of(messages.with_raw_response.create(**kwargs).parse())
    if path == "raw_stream":
        events = messages.with_raw_response.create(**kwargs, stream=True).parse()
        return "".join(
            e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    if path == "streaming_response":
        with messages.with_streaming_response.create(**kwargs) as response:
            return text_of(response.parse())
    if path == "beta_create":
        return text_of(client.beta.messages.create(**kwargs))
    raise AssertionError(path)


async def acall(client: AsyncAnthropic, path: str, model: str, text: str) -> str:
    """The async twin of :func:`call`."""
    kwargs: Any = {
        "model": model,
        "max_tokens": 256,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": text}],
    }
    messages = client.messages
    if path == "create":
        return text_of(await messages.create(**kwargs))
    if path == "stream":
        events = await messages.create(**kwargs, stream=True)
        return "".join(
            [
                e.delta.text
                async for e in events
                if e.type == "content_block_delta" and e.delta.type == "text_delta"
            ]
        )
    if path == "helper_text":
        async with messages.stream(**kwargs) as stream:
            return "".join([t async for t in stream.text_stream])
    if path == "helper_final":
        async with messages.stream(**kwargs) as stream:
            return text_of(await stream.get_final_message())
    if path == "helper_events":
        async with messages.stream(**kwargs) as stream:
            return "".join([e.text async for e in stream if e.type == "text"])
    if path == "raw":
        raw = await messages.with_raw_response.create(**kwargs)
        return text_of(await raw.parse())
    if path == "raw_stream":
        raw = await messages.with_raw_response.create(**kwargs, stream=True)
        events = await raw.parse()
        return "".join(
            [
                e.delta.text
                async for e in events
                if e.type == "content_block_delta" and e.delta.type == "text_delta"
            ]
        )
    if path == "streaming_response":
        async with messages.with_streaming_response.create(**kwargs) as response:
            return text_of(await response.parse())
    if path == "beta_create":
        return text_of(await client.beta.messages.create(**kwargs))
    raise AssertionError(path)
