"""Reading replies: text, ``tool_use`` ids, usage, stop reason and model, from a ``Message`` or
accumulated from the raw stream events. Only reads; never changes what the app receives."""

from __future__ import annotations

from typing import Any

from ..openai._response import Reply
from ._request import block_texts


class AnthropicReply(Reply):
    """What was captured of one Messages API reply. ``stop_reason`` is kept as ``finish_reason``;
    cache tokens as ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` (logged when
    listed in ``assistant_properties``)."""

    __slots__ = ("cache_creation_input_tokens", "cache_read_input_tokens")

    def __init__(self, model: str | None) -> None:
        super().__init__(model)
        self.cache_creation_input_tokens: int | None = None
        self.cache_read_input_tokens: int | None = None

    def properties(self) -> dict[str, object]:
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "finish_reason": self.finish_reason,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }

    def _read_usage(self, usage: Any) -> None:
        if usage is None:
            return
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = getattr(usage, name, None)
            if isinstance(value, int):
                setattr(self, name, value)

    def read_response(self, response: Any) -> None:
        """Fill from a ``Message`` (or a ``ParsedMessage``)."""
        self._read_whole(response)
        texts: list[str] = []
        for kind, text in block_texts(getattr(response, "content", None)):
            if kind == "text":
                texts.append(text)
            elif kind == "tool_use":
                self._tool_ids[len(self._tool_ids)] = text
        self.text_override = "".join(texts)
        stop = getattr(response, "stop_reason", None)
        self.finish_reason = stop if isinstance(stop, str) else None
        self._read_usage(getattr(response, "usage", None))

    def read_chunk(self, chunk: Any) -> None:
        """Accumulate one raw stream event (``RawMessageStreamEvent``)."""
        kind = chunk.type
        if kind == "content_block_delta":
            delta = chunk.delta
            if delta.type == "text_delta":
                self._parts.append(delta.text)
        elif kind == "content_block_start":
            block = chunk.content_block
            if block.type == "tool_use":
                self._tool_ids[chunk.index] = block.id
        elif kind == "message_start":
            message = chunk.message
            self.response_id = message.id
            if isinstance(message.model, str) and message.model:
                self.model = message.model
            self._read_usage(message.usage)
        elif kind == "message_delta":
            stop = chunk.delta.stop_reason
            if stop:
                self.finish_reason = stop
            self._read_usage(chunk.usage)
        elif kind == "message_stop":
            self.saw_end = True
