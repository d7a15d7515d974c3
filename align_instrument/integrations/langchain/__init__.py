"""LangChain integration: one :class:`AlignCallbackHandler` registered for every run of the process.

Public entry: :func:`install` / :func:`uninstall` (called by :func:`align_instrument.autoinstrument`
and :func:`align_instrument.uninstrument`). Nothing of LangChain is imported until ``install`` runs.

- Registration goes through LangChain's public configure hook
  (``langchain_core.tracers.context.register_configure_hook``) with ``handle_class``, so a run to
  which the app passes its own ``AlignCallbackHandler`` gets that one instead of both.
- LangChain has no unregister: :func:`uninstall` turns the global handler into a no-op, and a
  later :func:`install` turns the same handler back on with the new engine.
- No double counting: the handler (``run_inline``, so it runs in the caller's context also on
  async paths) sets ``SUPPRESS_PROVIDER_CAPTURE`` when a chat model run starts, so the OpenAI
  integration underneath ``ChatOpenAI`` captures nothing, and restores it when the run ends or
  fails. LangChain ends async runs in copied contexts (``asyncio.gather``, ``@shielded``
  callbacks), where the restore cannot reach the caller, and runs a stream's model code in the
  consumer's context between chunks. Thin wrappers around ``BaseChatModel`` / ``BaseLLM``
  ``agenerate``, ``astream`` and ``stream`` therefore give the caller back its own value on
  return and at every yielded chunk; they change nothing else and are removed by :func:`uninstall`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
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

    from ._handler import AlignCallbackHandler, flag_switch

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
            _guard_flag()
        flag_switch.enabled = True
    return True


def uninstall() -> None:
    """Make the global handler a no-op and restore ``agenerate`` exactly.

    Example:
        >>> uninstall()
    """
    with _lock:
        if _global_handler is not None:
            from ._handler import flag_switch

            flag_switch.enabled = False
            _global_handler._disable()
        while _patched:
            cls, name, original = _patched.pop()
            setattr(cls, name, original)


def _guard_flag() -> None:
    """Wrap the model entry points whose runs end in another context, to restore the flag."""
    import inspect

    targets = [
        ("langchain_core.language_models.chat_models", "BaseChatModel"),
        ("langchain_core.language_models.llms", "BaseLLM"),
    ]
    for module_name, class_name in targets:
        for name in ("agenerate", "astream", "stream"):
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
                original = cls.__dict__[name]
                if inspect.iscoroutinefunction(original):
                    wrapper: Any = _restoring_flag(original)
                elif inspect.isasyncgenfunction(original):
                    wrapper = _restoring_flag_async_gen(original)
                elif inspect.isgeneratorfunction(original):
                    wrapper = _restoring_flag_gen(original)
                else:
                    continue
                setattr(cls, name, wrapper)
                _patched.append((cls, name, original))
            except Exception:
                engine = _global_handler._engine if _global_handler is not None else None
                if engine is not None:
                    engine.client.record_internal_error("langchain_guard")


def _restoring_flag(
    original: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """``agenerate``: its runs end in child tasks (``asyncio.gather``, ``@shielded`` callbacks)."""

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


def _restoring_flag_async_gen(
    original: Callable[..., AsyncGenerator[Any, None]],
) -> Callable[..., AsyncGenerator[Any, None]]:
    """``astream``: the model's generator runs in the consumer's context, so its flag would be seen
    by the consumer between chunks and after the end (async end callbacks run in a copied context).
    The consumer gets its own value back at every yield; the model gets its value at every step."""

    @functools.wraps(original)
    async def astream(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        before = SUPPRESS_PROVIDER_CAPTURE.get()
        inner = original(*args, **kwargs)
        inside = before
        try:
            while True:
                SUPPRESS_PROVIDER_CAPTURE.set(inside)
                try:
                    item = await inner.__anext__()
                except StopAsyncIteration:
                    return
                finally:
                    inside = SUPPRESS_PROVIDER_CAPTURE.get()
                    SUPPRESS_PROVIDER_CAPTURE.set(before)
                yield item
        finally:
            SUPPRESS_PROVIDER_CAPTURE.set(inside)
            try:
                await inner.aclose()
            finally:
                SUPPRESS_PROVIDER_CAPTURE.set(before)

    return astream


def _restoring_flag_gen(
    original: Callable[..., Generator[Any, None, None]],
) -> Callable[..., Generator[Any, None, None]]:
    """``stream``: as for ``astream``, so the consumer never sees the flag between chunks."""

    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Generator[Any, None, None]:
        before = SUPPRESS_PROVIDER_CAPTURE.get()
        inner = original(*args, **kwargs)
        inside = before
        try:
            while True:
                SUPPRESS_PROVIDER_CAPTURE.set(inside)
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    inside = SUPPRESS_PROVIDER_CAPTURE.get()
                    SUPPRESS_PROVIDER_CAPTURE.set(before)
                yield item
        finally:
            SUPPRESS_PROVIDER_CAPTURE.set(inside)
            try:
                inner.close()
            finally:
                SUPPRESS_PROVIDER_CAPTURE.set(before)

    return stream


__all__ = ["global_handler", "install", "langchain_available", "uninstall"]
