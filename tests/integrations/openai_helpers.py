"""Calling every captured path of the openai SDK the way apps do (shared by the openai tests)."""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI, OpenAI
from pydantic import BaseModel


class Answer(BaseModel):
    reply: str


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


CHAT_PATHS = ("create", "stream", "raw", "raw_stream", "streaming_response", "parse", "stream_helper")
RESPONSES_PATHS = ("responses_create", "responses_stream", "responses_parse", "responses_stream_helper")
ALL_PATHS = CHAT_PATHS + RESPONSES_PATHS


def call(oa: OpenAI, path: str, model: str, text: str) -> str:
    """Make one call through ``path`` and return the reply text the app would show."""
    messages: Any = [{"role": "system", "content": "Be brief."}, user(text)]
    chat = oa.chat.completions
    if path == "create":
        return chat.create(model=model, messages=messages).choices[0].message.content or ""
    if path == "stream":
        stream = chat.create(model=model, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    if path == "raw":
        return (
            chat.with_raw_response.create(model=model, messages=messages).parse().choices[0].message.content
            or ""
        )
    if path == "raw_stream":
        stream = chat.with_raw_response.create(model=model, messages=messages, stream=True).parse()
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    if path == "streaming_response":
        with chat.with_streaming_response.create(model=model, messages=messages) as response:
            return response.parse().choices[0].message.content or ""
    if path == "parse":
        parsed = chat.parse(model=model, messages=messages, response_format=Answer)
        return parsed.choices[0].message.content or ""
    if path == "stream_helper":
        with chat.stream(model=model, messages=messages) as stream:
            for _ in stream:
                pass
            return stream.get_final_completion().choices[0].message.content or ""
    if path == "responses_create":
        return oa.responses.create(model=model, input=text).output_text
    if path == "responses_stream":
        events = oa.responses.create(model=model, input=text, stream=True)
        return "".join(e.delta for e in events if e.type == "response.output_text.delta")
    if path == "responses_parse":
        return oa.responses.parse(model=model, input=text, text_format=Answer).output_text
    if path == "responses_stream_helper":
        with oa.responses.stream(model=model, input=text) as stream:
            for _ in stream:
                pass
            return stream.get_final_response().output_text
    raise AssertionError(path)


async def acall(oa: AsyncOpenAI, path: str, model: str, text: str) -> str:
    """The async twin of :func:`call`."""
    messages: Any = [{"role": "system", "content": "Be brief."}, user(text)]
    chat = oa.chat.completions
    if path == "create":
        return (await chat.create(model=model, messages=messages)).choices[0].message.content or ""
    if path == "stream":
        stream = await chat.create(model=model, messages=messages, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    if path == "raw":
        raw = await chat.with_raw_response.create(model=model, messages=messages)
        return raw.parse().choices[0].message.content or ""
    if path == "raw_stream":
        raw = await chat.with_raw_response.create(model=model, messages=messages, stream=True)
        stream = raw.parse()
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    if path == "streaming_response":
        async with chat.with_streaming_response.create(model=model, messages=messages) as response:
            return (await response.parse()).choices[0].message.content or ""
    if path == "parse":
        parsed = await chat.parse(model=model, messages=messages, response_format=Answer)
        return parsed.choices[0].message.content or ""
    if path == "stream_helper":
        async with chat.stream(model=model, messages=messages) as stream:
            async for _ in stream:
                pass
            return (await stream.get_final_completion()).choices[0].message.content or ""
    if path == "responses_create":
        return (await oa.responses.create(model=model, input=text)).output_text
    if path == "responses_stream":
        events = await oa.responses.create(model=model, input=text, stream=True)
        return "".join([e.delta async for e in events if e.type == "response.output_text.delta"])
    if path == "responses_parse":
        return (await oa.responses.parse(model=model, input=text, text_format=Answer)).output_text
    if path == "responses_stream_helper":
        async with oa.responses.stream(model=model, input=text) as stream:
            async for _ in stream:
                pass
            return (await stream.get_final_response()).output_text
    raise AssertionError(path)
