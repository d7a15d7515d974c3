"""A LlamaIndex LLM the way provider packages write one: a ``FunctionCallingLLM`` subclass that
calls the real ``openai`` SDK (here against ``local_llm``). The ``llama-index-llms-openai`` package
itself pins ``openai<3``, which the dev environment must not be pulled back to."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from openai import AsyncOpenAI, OpenAI


def _to_openai(message: ChatMessage) -> dict[str, Any]:
    role = message.role.value
    if role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.additional_kwargs["tool_call_id"],
            "content": message.content,
        }
    out: dict[str, Any] = {"role": role, "content": message.content or ""}
    calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if calls:
        out["tool_calls"] = [
            {
                "id": c.tool_call_id,
                "type": "function",
                "function": {"name": c.tool_name, "arguments": json.dumps(c.tool_kwargs)},
            }
            for c in calls
        ]
    return out


def _message(text: str, calls: dict[int, dict[str, Any]]) -> ChatMessage:
    blocks: list[Any] = [TextBlock(text=text)] if text else []
    for call in calls.values():
        args = call.get("arguments") or "{}"
        blocks.append(
            ToolCallBlock(tool_call_id=call["id"], tool_name=call["name"], tool_kwargs=json.loads(args))
        )
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


class LocalOpenAILLM(FunctionCallingLLM):
    base_url: str
    model: str = "local"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, is_function_calling_model=True, model_name=self.model)

    def _sync(self) -> OpenAI:
        return OpenAI(base_url=self.base_url, api_key="test-openai-key", max_retries=0)

    def _async(self) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=self.base_url, api_key="test-openai-key", max_retries=0)

    def _request(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model, "messages": [_to_openai(m) for m in messages]}
        if kwargs.get("tools"):
            request["tools"] = kwargs["tools"]
        return request

    @staticmethod
    def _response(completion: Any) -> ChatResponse:
        message = completion.choices[0].message
        calls = {
            i: {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for i, c in enumerate(message.tool_calls or ())
        }
        return ChatResponse(message=_message(message.content or "", calls), raw=completion)

    @staticmethod
    def _accumulate(chunk: Any, text: list[str], calls: dict[int, dict[str, Any]]) -> str:
        if not chunk.choices:
            return ""
        delta = chunk.choices[0].delta
        for call in delta.tool_calls or ():
            entry = calls.setdefault(call.index, {"id": call.id, "name": "", "arguments": ""})
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
        text.append(delta.content or "")
        return delta.content or ""

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._response(self._sync().chat.completions.create(**self._request(messages, kwargs)))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._response(await self._async().chat.completions.create(**self._request(messages, kwargs)))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        def gen() -> Iterator[ChatResponse]:
            text: list[str] = []
            calls: dict[int, dict[str, Any]] = {}
            for chunk in self._sync().chat.completions.create(**self._request(messages, kwargs), stream=True):
                delta = self._accumulate(chunk, text, calls)
                yield ChatResponse(message=_message("".join(text), calls), delta=delta)

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        async def gen() -> AsyncIterator[ChatResponse]:
            text: list[str] = []
            calls: dict[int, dict[str, Any]] = {}
            stream = await self._async().chat.completions.create(
                **self._request(messages, kwargs), stream=True
            )
            async for chunk in stream:
                delta = self._accumulate(chunk, text, calls)
                yield ChatResponse(message=_message("".join(text), calls), delta=delta)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(
            text=self.chat([ChatMessage(role="user", content=prompt)]).message.content or ""
        )

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = await self.achat([ChatMessage(role="user", content=prompt)])
        return CompletionResponse(text=response.message.content or "")

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        raise NotImplementedError

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        raise NotImplementedError

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                ChatMessage(role="user", content=user_msg) if isinstance(user_msg, str) else user_msg
            )
        return {"messages": messages, "tools": [tool.metadata.to_openai_tool() for tool in tools], **kwargs}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        return [
            ToolSelection(
                tool_id=b.tool_call_id or "", tool_name=b.tool_name, tool_kwargs=dict(b.tool_kwargs)
            )  # type: ignore[arg-type]
            for b in response.message.blocks
            if isinstance(b, ToolCallBlock)
        ]
