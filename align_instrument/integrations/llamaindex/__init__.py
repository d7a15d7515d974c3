"""LlamaIndex integration: LLM chat calls of chat engines, agents and direct ``llm.chat`` calls
are captured through LlamaIndex's own instrumentation dispatcher (no patching).

Public entry: :func:`install` / :func:`uninstall`. Private modules, one per concern:

- ``_spans``: a span handler that knows which chat engine / agent / memory an LLM call runs under;
- ``_events``: an event handler that turns LLM chat start / progress / end / error events into
  engine turns, and keeps the ``openai`` / ``anthropic`` call underneath from being logged again;
- ``_convert``: LlamaIndex messages and responses as canonical items and reply fields;
- ``_memory``: :class:`AlignChatMemory`, the explicit alternative (``align_instrument.llamaindex``).
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from ...sessions.engine import SessionEngine

_lock = threading.Lock()
_handlers: tuple[Any, Any] | None = None


def install(engine: SessionEngine) -> bool:
    """Register the span and event handlers on LlamaIndex's root dispatcher (``autoinstrument()``
    calls it once the app has imported ``llama_index.core``).

    Returns:
        False when ``llama-index-core`` is not installed; True otherwise (idempotent).
    """
    global _handlers
    try:
        if importlib.util.find_spec("llama_index.core") is None:
            return False
    except (ImportError, ValueError):  # the llama_index namespace itself is missing
        return False
    from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

    from ._events import AlignEventHandler
    from ._spans import AlignSpanHandler

    with _lock:
        if _handlers is None:
            root = get_dispatcher()
            spans = AlignSpanHandler()
            events = AlignEventHandler(engine, spans)
            root.add_span_handler(spans)
            root.add_event_handler(events)
            _handlers = (spans, events)
    return True


def uninstall() -> None:
    """Remove the handlers from the root dispatcher."""
    global _handlers
    with _lock:
        handlers, _handlers = _handlers, None
    if handlers is None:
        return
    from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

    root = get_dispatcher()
    spans, events = handlers
    root.span_handlers = [h for h in root.span_handlers if h is not spans]
    root.event_handlers = [h for h in root.event_handlers if h is not events]
