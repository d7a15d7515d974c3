"""LLM chat calls from LlamaIndex's instrumentation events: one engine turn per call.

- ``LLMChatStartEvent``: begin a turn with the call's messages (session: an ``align.session``
  scope, else the chat engine's / agent's memory, else implicit threading), and raise the
  provider-suppression flag so the ``openai`` / ``anthropic`` call underneath is not logged again;
- ``LLMChatInProgressEvent``: remember the latest streamed response;
- ``LLMChatEndEvent``: end the turn with the reply (text, tool-call ids, model, usage);
- ``ExceptionEvent`` (a stream that failed or was abandoned: ``GeneratorExit``) and
  ``SpanDropEvent`` (the call raised): end the turn with what was streamed, or fail it.

Turns are keyed by the LLM call's span id, which all of its events carry.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.exception import ExceptionEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatInProgressEvent,
    LLMChatStartEvent,
)
from llama_index.core.instrumentation.events.span import SpanDropEvent  # type: ignore[attr-defined]
from pydantic import PrivateAttr

from ..._internal import report_internal_error
from ...sessions.context import SUPPRESS_PROVIDER_CAPTURE
from ...sessions.engine import SessionEngine, Turn
from ._convert import chat_items, message_text, tool_call_ids, usage
from ._spans import AlignSpanHandler

MAX_OPEN_TURNS = 10_000


class CallFlag:
    """What a captured LLM call puts in ``SUPPRESS_PROVIDER_CAPTURE``: truthy while the call is in
    flight. An object, not ``True``: a streamed call ends in whichever context read the stream
    (LlamaIndex chat engines read it in a thread with a copied context), where resetting the
    variable could not reach the caller's context; ending flips the shared object instead."""

    __slots__ = ("active", "outer")

    def __init__(self, outer: object) -> None:
        self.active = True
        self.outer: object = outer if outer else False

    def __bool__(self) -> bool:
        return self.active or bool(self.outer)


class _Call:
    __slots__ = ("deltas", "flag", "last", "model", "turn")

    def __init__(self, turn: Turn | None, flag: CallFlag, model: str | None) -> None:
        self.turn = turn
        self.flag = flag
        self.model = model
        self.last: Any = None  # the latest streamed ChatResponse
        # The streamed text as LlamaIndex's chat engines assemble it (and put it in memory).
        self.deltas: list[str] = []


class AlignEventHandler(BaseEventHandler):
    """Turns LlamaIndex LLM chat events into engine turns (see the module doc)."""

    _engine: SessionEngine = PrivateAttr()
    _spans: AlignSpanHandler = PrivateAttr()
    _calls: dict[str, _Call] = PrivateAttr(default_factory=dict)
    _guard: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, engine: SessionEngine, spans: AlignSpanHandler) -> None:
        super().__init__()
        self._engine = engine
        self._spans = spans

    @classmethod
    def class_name(cls) -> str:
        return "AlignEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        try:
            if isinstance(event, LLMChatInProgressEvent):
                call = self._calls.get(event.span_id or "")
                if call is not None:
                    call.last = event.response
                    delta = event.response.delta
                    if isinstance(delta, str):
                        call.deltas.append(delta)
            elif isinstance(event, LLMChatStartEvent):
                self._start(event)
            elif isinstance(event, LLMChatEndEvent):
                self._end(event.span_id, event.response, incomplete=False)
            elif isinstance(event, (ExceptionEvent, SpanDropEvent)):
                self._end(event.span_id, None, incomplete=True)
        except Exception:
            report_internal_error(self._engine.client, "llamaindex_event")

    def _start(self, event: LLMChatStartEvent) -> None:
        if SUPPRESS_PROVIDER_CAPTURE.get():  # a LangChain run (or an outer LLM call) logs this turn
            return
        span_id = event.span_id
        if not span_id:
            return
        context = self._spans.context(span_id)
        model_dict = event.model_dict or {}
        model = model_dict.get("model") or model_dict.get("model_name")
        turn: Turn | None = None
        if not (context.not_a_turn or context.memory_logs):
            turn = self._engine.begin_turn(
                partition=f"llamaindex#{model_dict.get('class_name', '')}#{model_dict.get('api_base', '')}",
                messages=chat_items(event.messages),
                session_id=context.session_id,
            )
        flag = CallFlag(SUPPRESS_PROVIDER_CAPTURE.get())
        SUPPRESS_PROVIDER_CAPTURE.set(cast(bool, flag))  # a truthy stand-in for True, see CallFlag
        with self._guard:
            calls = self._calls
            calls[span_id] = _Call(turn, flag, model if isinstance(model, str) else None)
            if len(calls) > MAX_OPEN_TURNS:  # calls whose end never came
                stale = calls.pop(next(iter(calls)))
                stale.flag.active = False

    def _end(self, span_id: str | None, response: Any, *, incomplete: bool) -> None:
        with self._guard:
            call = self._calls.pop(span_id or "", None)
        if call is None:
            return
        call.flag.active = False
        current: object = SUPPRESS_PROVIDER_CAPTURE.get()
        if current is call.flag:  # same context: give it its value back
            SUPPRESS_PROVIDER_CAPTURE.set(cast(bool, call.flag.outer))
        turn = call.turn
        if turn is None:
            return
        response = response if response is not None else call.last
        if response is None:
            self._engine.fail_turn(turn)
            return
        message = response.message
        text = "".join(call.deltas) if call.deltas else message_text(message)
        tokens_in, tokens_out = usage(response)
        raw = getattr(response, "raw", None)
        model = getattr(raw, "model", None) if raw is not None and not isinstance(raw, dict) else None
        if model is None and isinstance(raw, dict):
            model = raw.get("model")
        self._engine.end_turn(
            turn,
            text,
            tool_call_ids=tool_call_ids(message),
            properties={
                "model": model if isinstance(model, str) else call.model,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
            },
            response_id=_response_id(raw),
            incomplete=incomplete,
        )


def _response_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
    return value if isinstance(value, str) else None
