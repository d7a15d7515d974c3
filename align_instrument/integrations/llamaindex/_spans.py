"""Which LlamaIndex component an LLM call runs under: a span handler on the root dispatcher.

For every open span it keeps its parent and what the span tells about the conversation:

- a chat engine or agent with a memory (``self._memory`` / ``self.memory``, a ``memory=``
  argument, or the start event of ``agent.run(..., memory=memory)``): the memory's session id
  (``Memory.session_id``, a ``ChatMemoryBuffer``'s non-default ``chat_store_key``), or that an
  :class:`AlignChatMemory` logs the conversation itself;
- ``predict`` / ``structured_predict`` (prompt-template calls such as a chat engine's
  question condensing, or a query engine's synthesis): not a conversation turn.

The LLM chat events then resolve their span's nearest such ancestor. Bounded: spans that never
exit are forgotten oldest first beyond ``MAX_OPEN_SPANS``.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, NamedTuple

from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from pydantic import PrivateAttr

MAX_OPEN_SPANS = 10_000
DEFAULT_CHAT_STORE_KEY = "chat_history"
_NOT_TURNS = frozenset(
    {
        "predict",
        "apredict",
        "stream_predict",
        "astream_predict",
        "structured_predict",
        "astructured_predict",
        "stream_structured_predict",
        "astream_structured_predict",
        "predict_and_call",
        "apredict_and_call",
    }
)
"""LLM methods whose chat calls fill a prompt template rather than continue a conversation."""


class SpanInfo(NamedTuple):
    parent: str | None
    session_id: str | None  # from the component's memory
    memory_logs: bool  # an AlignChatMemory logs this conversation
    not_a_turn: bool


class Context(NamedTuple):
    """What an LLM call's ancestors say (see the module doc)."""

    session_id: str | None
    memory_logs: bool
    not_a_turn: bool


NO_CONTEXT = Context(None, False, False)


def memory_session(memory: Any) -> tuple[str | None, bool]:
    """``(session id, logged by an AlignChatMemory)`` of a LlamaIndex memory object."""
    if getattr(memory, "__align_chat_memory__", False):
        return getattr(memory, "session_id", None), True
    session_id = getattr(memory, "session_id", None)
    if isinstance(session_id, str) and session_id:
        return session_id, False
    key = getattr(memory, "chat_store_key", None)
    if isinstance(key, str) and key and key != DEFAULT_CHAT_STORE_KEY:
        return key, False
    return None, False


def _memory_of(instance: Any, bound_args: inspect.BoundArguments) -> Any:
    arguments = bound_args.arguments
    memory = arguments.get("memory")
    if memory is None:
        extra = arguments.get("kwargs")
        if isinstance(extra, dict):
            memory = extra.get("memory")
    if memory is None and "start_event" in arguments:  # agent.run(..., memory=...) (a workflow)
        memory = getattr(arguments["start_event"], "memory", None)
    if memory is None and instance is not None:
        memory = getattr(instance, "_memory", None) or getattr(instance, "memory", None)
    return memory if hasattr(memory, "get_all") else None


class AlignSpanHandler(BaseSpanHandler[Any]):
    """Tracks open spans' parents and conversation hints (never stores spans' arguments)."""

    _spans: dict[str, SpanInfo] = PrivateAttr(default_factory=dict)
    _guard: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def class_name(cls) -> str:
        return "AlignSpanHandler"

    def span_enter(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        parent_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        method = id_.split("-", 1)[0].rsplit(".", 1)[-1]  # ids are "Class.method-<uuid>"
        session_id, memory_logs = memory_session(_memory_of(instance, bound_args))
        info = SpanInfo(parent_id, session_id, memory_logs, method in _NOT_TURNS)
        spans = self._spans
        with self._guard:
            spans[id_] = info
            if len(spans) > MAX_OPEN_SPANS:
                del spans[next(iter(spans))]

    def span_exit(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        result: Any | None = None,
        **kwargs: Any,
    ) -> None:
        with self._guard:
            self._spans.pop(id_, None)

    def span_drop(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        with self._guard:
            self._spans.pop(id_, None)

    def new_span(self, *args: Any, **kwargs: Any) -> None:
        return None

    def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
        return None

    def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
        return None

    def context(self, span_id: str | None) -> Context:
        """What the ancestors of ``span_id`` (itself included) say about an LLM call in it."""
        spans = self._spans
        session_id: str | None = None
        memory_logs = not_a_turn = False
        seen = 0
        while span_id is not None and seen < 100:  # a cycle cannot happen; a bound costs nothing
            info = spans.get(span_id)
            if info is None:
                break
            not_a_turn = not_a_turn or info.not_a_turn
            if session_id is None and info.session_id is not None:
                session_id, memory_logs = info.session_id, info.memory_logs
            span_id = info.parent
            seen += 1
        return Context(session_id, memory_logs, not_a_turn)
