"""Reading replies: text, tool calls, usage, finish reason and model, from a response object or
accumulated from stream chunks / events. Only reads; never changes what the app receives."""

from __future__ import annotations

from typing import Any

from ._request import content_text


class Reply:
    """What was captured of one reply (filled from a response object or chunk by chunk)."""

    __slots__ = (
        "_alternatives",
        "_parts",
        "_tool_ids",
        "finish_reason",
        "input_tokens",
        "model",
        "output_tokens",
        "response_id",
        "saw_end",
        "text_override",
    )

    def __init__(self, model: str | None) -> None:
        self._parts: list[str] = []  # the logged choice (index 0)
        self._alternatives: dict[int, list[str]] | None = None  # the other choices (n > 1) by index
        self._tool_ids: dict[int, str] = {}
        self.text_override: str | None = None
        self.model = model
        self.response_id: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.finish_reason: str | None = None
        self.saw_end = False

    @property
    def text(self) -> str:
        if self.text_override is not None:
            return self.text_override
        return "".join(self._parts)

    @property
    def alternatives(self) -> list[str]:
        """The texts of the other choices (``n > 1``), by index; not logged, but known continuations."""
        if not self._alternatives:
            return []
        return ["".join(parts) for _, parts in sorted(self._alternatives.items())]

    @property
    def tool_call_ids(self) -> list[str]:
        return [self._tool_ids[i] for i in sorted(self._tool_ids)]

    def properties(self) -> dict[str, object]:
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "finish_reason": self.finish_reason,
        }

    # --- whole responses --------------------------------------------------------------------------------

    def _read_whole(self, response: Any) -> None:
        """What every whole response gives: it is complete, its id and its model."""
        self.saw_end = True
        response_id = getattr(response, "id", None)
        self.response_id = response_id if isinstance(response_id, str) else None
        model = getattr(response, "model", None)
        if isinstance(model, str):
            self.model = model

    def read_response(self, response: Any) -> None:
        """Fill from a ``ChatCompletion`` / ``Response`` (or their parsed variants)."""
        self._read_whole(response)
        choices = getattr(response, "choices", None)
        usage = getattr(response, "usage", None)
        if choices is not None:
            if choices:
                choice = choices[0]  # the SDK lists choices by index: index 0 is the one logged
                message = getattr(choice, "message", None)
                self.text_override = _message_text(message)
                for i, call in enumerate(getattr(message, "tool_calls", None) or ()):
                    self._tool_ids[i] = str(getattr(call, "id", ""))
                self.finish_reason = getattr(choice, "finish_reason", None)
                for index, other in enumerate(choices[1:], 1):
                    self._add_alternative(index, _message_text(getattr(other, "message", None)))
            if usage is not None:
                self.input_tokens = getattr(usage, "prompt_tokens", None)
                self.output_tokens = getattr(usage, "completion_tokens", None)
            return
        self._read_responses_output(response)

    def _read_responses_output(self, response: Any) -> None:
        texts: list[str] = []
        calls: list[str] = []
        for item in getattr(response, "output", None) or ():
            item_type = getattr(item, "type", None)
            if item_type == "message":
                texts.append(content_text(getattr(item, "content", None)))
            elif isinstance(item_type, str) and item_type.endswith("_call"):
                calls.append(str(getattr(item, "call_id", None) or getattr(item, "id", "")))
        self.text_override = "".join(texts)
        self._tool_ids = dict(enumerate(calls))
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.input_tokens = getattr(usage, "input_tokens", None)
            self.output_tokens = getattr(usage, "output_tokens", None)
        status = getattr(response, "status", None)
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None) if details is not None else None
        self.finish_reason = (
            reason if isinstance(reason, str) else status if isinstance(status, str) else None
        )

    # --- streams ---------------------------------------------------------------------------------------

    def read_chunk(self, chunk: Any) -> None:
        """Accumulate one stream item: a ``ChatCompletionChunk`` or a Responses stream event."""
        choices = getattr(chunk, "choices", None)
        if choices is not None:
            if self.response_id is None:
                self.response_id = getattr(chunk, "id", None)
                model = getattr(chunk, "model", None)
                if isinstance(model, str) and model:
                    self.model = model
            for choice in choices:  # one per chunk, each naming its choice by index (n > 1)
                delta = choice.delta
                if choice.index:
                    self._add_alternative(choice.index, getattr(delta, "content", None))
                    continue
                if delta is not None:
                    content = delta.content
                    if content:
                        self._parts.append(content)
                    calls = delta.tool_calls
                    if calls:
                        for call in calls:
                            if call.id:
                                self._tool_ids[call.index] = call.id
                if choice.finish_reason:
                    self.finish_reason = choice.finish_reason
                    self.saw_end = True
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.input_tokens = usage.prompt_tokens
                self.output_tokens = usage.completion_tokens
            return
        event_type = getattr(chunk, "type", None)
        if event_type == "response.output_text.delta":
            self._parts.append(chunk.delta)
        elif event_type in ("response.completed", "response.incomplete", "response.failed"):
            response = chunk.response
            self.response_id = getattr(response, "id", None)
            model = getattr(response, "model", None)
            if isinstance(model, str):
                self.model = model
            streamed = "".join(self._parts)
            self._read_responses_output(response)
            if not self.text_override:
                self.text_override = streamed or None
            self.saw_end = event_type == "response.completed"
        elif event_type == "response.created":
            response = chunk.response
            self.response_id = getattr(response, "id", None)
        elif event_type == "response.output_item.done":
            item = chunk.item
            item_type = getattr(item, "type", None)
            if isinstance(item_type, str) and item_type.endswith("_call"):
                self._tool_ids[len(self._tool_ids)] = str(
                    getattr(item, "call_id", None) or getattr(item, "id", "")
                )

    def _add_alternative(self, index: int, text: str | None) -> None:
        """Text of another choice than the logged one (whole, or a streamed piece)."""
        if text:
            if self._alternatives is None:
                self._alternatives = {}
            self._alternatives.setdefault(index, []).append(text)


def _message_text(message: Any) -> str:
    """A chat completion message's text, or its refusal."""
    text = content_text(getattr(message, "content", None))
    if not text:
        refusal = getattr(message, "refusal", None)
        text = refusal if isinstance(refusal, str) else ""
    return text
