"""LangChain integration: one :class:`AlignCallbackHandler` registered for every run of the process.

Public entry: :func:`install` / :func:`uninstall` (called by :func:`align_instrument.autoinstrument`
and :func:`align_instrument.uninstrument`). Nothing of LangChain is imported until ``install`` runs.

- Registration goes through LangChain's public configure hook
  (``langchain_core.tracers.context.register_configure_hook``) with ``handle_class``, so a run to
  which the app passes its own ``AlignCallbackHandler`` gets that one instead of both.
- LangChain has no unregister: :func:`uninstall` turns the global handler into a no-op, and a
  later :func:`install` turns the same handler back on with the new engine.
- No double counting: the handler (``run_inline``, so it runs in the caller's context also on
  async paths, and the provider call, made later in that context or in tasks copied from it,
  sees what it set) puts a :class:`~._handler.RunFlag` in ``SUPPRESS_PROVIDER_CAPTURE`` when a
  chat model run starts, so the OpenAI integration underneath ``ChatOpenAI`` captures nothing;
  the flag turns falsy when the run ends or fails, in every context that copied it (LangChain
  ends async runs in copied contexts, where a reset could not reach the caller).
- Nothing of LangChain is patched.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING

from ...sessions.engine import SessionEngine

if TYPE_CHECKING:
    from ._handler import AlignCallbackHandler

_lock = threading.Lock()
_global_handler: AlignCallbackHandler | None = None
_handler_var: ContextVar[AlignCallbackHandler | None] | None = None


def langchain_available() -> bool:
    """True when the ``langchain-core`` distribution is installed (nothing is imported)."""
    try:
        importlib.metadata.version("langchain-core")
    except importlib.metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("langchain_core") is not None


def global_handler() -> AlignCallbackHandler | None:
    """The handler registered for every run, while installed (None otherwise)."""
    handler = _global_handler
    if handler is None or handler._current_engine() is None:
        return None
    return handler


def install(engine: SessionEngine) -> bool:
    """Register the global LangChain handler, logging through ``engine``.

    Returns:
        False when ``langchain-core`` is not installed; True otherwise (also when already installed,
        in which case the handler switches to ``engine``).

    Example:
        >>> install(engine)
        True
    """
    global _global_handler, _handler_var
    if not langchain_available():
        return False
    from langchain_core.tracers.context import register_configure_hook

    from ._handler import AlignCallbackHandler

    with _lock:
        if _global_handler is None:
            handler = AlignCallbackHandler(_engine=engine)
            # The default value, not a set(): a set() would only be seen in this thread's context.
            var: ContextVar[AlignCallbackHandler | None] = ContextVar(
                "align_langchain_handler", default=handler
            )
            register_configure_hook(var, True, handle_class=AlignCallbackHandler)
            _global_handler, _handler_var = handler, var
        else:
            _global_handler._engine = engine
    return True


def uninstall() -> None:
    """Make the global handler a no-op and restore ``agenerate`` exactly.

    Example:
        >>> uninstall()
    """
    with _lock:
        if _global_handler is not None:
            _global_handler._disable()


__all__ = ["global_handler", "install", "langchain_available", "uninstall"]
