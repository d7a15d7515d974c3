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
import sys
import threading
from typing import Any

import wrapt

from ...sessions.engine import SessionEngine

_MODULE = "llama_index.core"
_lock = threading.Lock()
_engine: SessionEngine | None = None  # set while installed
_hooked = False
_handlers: tuple[Any, Any] | None = None


def _available() -> bool:
    try:
        return importlib.util.find_spec(_MODULE) is not None
    except (ImportError, ValueError):  # the llama_index namespace itself is missing
        return False


def install(engine: SessionEngine) -> bool:
    """Register the span and event handlers on LlamaIndex's root dispatcher, now if the app has
    imported ``llama_index.core``, else when it does (importing it takes seconds: an app that
    never uses LlamaIndex must not pay for it).

    Returns:
        False when ``llama-index-core`` is not installed; True otherwise (idempotent).
    """
    global _engine, _hooked
    if not _available():
        return False
    with _lock:
        _engine = engine
        if _MODULE in sys.modules:
            _register_locked()
        elif not _hooked:
            _hooked = True
            wrapt.register_post_import_hook(_on_import, _MODULE)
    return True


def _on_import(module: object) -> None:
    with _lock:
        _register_locked()


def _register_locked() -> None:
    global _handlers
    engine = _engine
    if engine is None or _handlers is not None:
        return  # uninstalled meanwhile, or already registered
    try:
        from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

        from ._events import AlignEventHandler
        from ._spans import AlignSpanHandler

        root = get_dispatcher()
        spans = AlignSpanHandler()
        events = AlignEventHandler(engine, spans)
        root.add_span_handler(spans)
        root.add_event_handler(events)
        _handlers = (spans, events)
    except Exception:
        from ..._internal import report_internal_error

        report_internal_error(engine.client, "install_llamaindex")


def uninstall() -> None:
    """Remove the handlers from the root dispatcher (and forget a pending install)."""
    global _engine, _handlers
    with _lock:
        _engine = None
        handlers, _handlers = _handlers, None
    if handlers is None:
        return
    from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

    root = get_dispatcher()
    spans, events = handlers
    root.span_handlers = [h for h in root.span_handlers if h is not spans]
    root.event_handlers = [h for h in root.event_handlers if h is not events]
