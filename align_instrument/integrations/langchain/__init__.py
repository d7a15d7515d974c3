"""LangChain integration: one :class:`AlignCallbackHandler` registered for every run of the process.

Public entry: :func:`install` / :func:`uninstall` (called by :func:`align_instrument.autoinstrument`
and :func:`align_instrument.uninstrument`). Nothing of LangChain is imported until ``install`` runs.

- Registration goes through LangChain's public configure hook
  (``langchain_core.tracers.context.register_configure_hook``) with ``handle_class``, so a run to
  which the app passes its own ``AlignCallbackHandler`` gets that one instead of both.
- LangChain has no unregister: :func:`uninstall` turns the global handler into a no-op, and a
  later :func:`install` turns the same handler back on with the new engine.
- No double counting: the handler sets ``SUPPRESS_PROVIDER_CAPTURE`` while a chat model run is in
  flight, so the OpenAI integration underneath ``ChatOpenAI`` captures nothing. ``agenerate``
  ends its runs from child tasks (``asyncio.gather``), where resetting the flag cannot reach the
  caller's context; a thin wrapper around ``agenerate`` restores the caller's value when it returns.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ...sessions.context import SUPPRESS_PROVIDER_CAPTURE
from ...sessions.engine import SessionEngine

if TYPE_CHECKING:
    from ._handler import AlignCallbackHandler

_lock = threading.Lock()
_global_handler: AlignCallbackHandler | None = None
_handler_var: ContextVar[AlignCallbackHandler | None] | None = None
# (class, attribute name, original object as found in the class __dict__)
_patched: list[tuple[type, str, Any]] = []


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
        if not _patched:
            _guard_agenerate()
    return True


def uninstall() -> None:
    """Make the global handler a no-op and restore ``agenerate`` exactly.

    Example:
        >>> uninstall()
    """
    with _lock:
        if _global_handler is not None:
            _global_handler._disable()
        while _patched:
            cls, name, original = _patched.pop()
            setattr(cls, name, original)


def _guard_agenerate() -> None:
    """Wrap ``BaseChatModel.agenerate`` / ``BaseLLM.agenerate`` to restore the suppression flag."""
    targets: list[tuple[str, str]] = [
        ("langchain_core.language_models.chat_models", "BaseChatModel"),
        ("langchain_core.language_models.llms", "BaseLLM"),
    ]
    for module_name, class_name in targets:
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, class_name)
            original = cls.__dict__["agenerate"]
            setattr(cls, "agenerate", _restoring_flag(original))  # noqa: B010
            _patched.append((cls, "agenerate", original))
        except Exception:
            engine = _global_handler._engine if _global_handler is not None else None
            if engine is not None:
                engine.client.record_internal_error("langchain_guard")


def _restoring_flag(
    original: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    import functools

    @functools.wraps(original)
    async def agenerate(*args: Any, **kwargs: Any) -> Any:
        before = SUPPRESS_PROVIDER_CAPTURE.get()
        try:
            return await original(*args, **kwargs)
        finally:
            # The handler set the flag in this (the caller's) context at run start; the run ended
            # in a child task, so only this restores it here.
            SUPPRESS_PROVIDER_CAPTURE.set(before)

    return agenerate


__all__ = ["global_handler", "install", "langchain_available", "uninstall"]
