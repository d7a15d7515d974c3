"""The ``align.session(...)`` scope and the context flags shared by the integrations.

Everything here lives in :mod:`contextvars`, so a scope is seen by the code it encloses, by
asyncio tasks created inside it (they copy the context) and by threads started with a copied
context (``contextvars.copy_context().run``, ``asyncio.to_thread``, ``loop.run_in_executor``
via ``copy_context``), and never leaks into unrelated requests of a server.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from hashlib import blake2b
from types import TracebackType
from typing import Any, TypeVar, cast

from .. import events as ev

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SessionScope:
    """What an :func:`session` scope fixes for the calls made inside it (already validated)."""

    session_id: str
    user_id: str | None = None
    assistant_id: str | None = None
    custom_properties: Mapping[str, str] | None = None


_SCOPE: ContextVar[SessionScope | None] = ContextVar("align_session_scope", default=None)

# The session id of the last turn captured in this context; read by current_session() outside a scope.
LAST_SESSION_ID: ContextVar[str | None] = ContextVar("align_last_session_id", default=None)

SUPPRESS_PROVIDER_CAPTURE: ContextVar[bool] = ContextVar("align_suppress_provider_capture", default=False)
"""True while a higher-level integration (the LangChain handler) is logging the current chat-model
run itself: provider integrations (OpenAI) must then capture nothing, so one turn is logged once.
Set it with ``token = SUPPRESS_PROVIDER_CAPTURE.set(True)`` and always ``reset(token)`` on end and on error.
"""


def safe_id(value: str) -> str:
    """An id usable on the wire: one over 64 characters (an app's conversation key, an e-mail
    based user id) becomes a stable digest ``h_<32 hex>``, the same in every process and run."""
    value = str(value)
    if 0 < len(value) <= ev.MAX_ID_CHARS:
        return value
    return "h_" + blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def current_scope() -> SessionScope | None:
    """The innermost active :class:`session` scope, or None."""
    return _SCOPE.get()


def current_session() -> str | None:
    """The session id in effect: the enclosing ``align.session(...)`` scope's, else the session of
    the last call captured in this context (thread / task), else None.

    Example:
        >>> with align.session("s-1"):
        ...     align.current_session()
        's-1'
    """
    scope = _SCOPE.get()
    if scope is not None:
        return scope.session_id
    return LAST_SESSION_ID.get()


def scope_id(field: str, value: object) -> str:
    """An id the app gives a scope or a handler: a non-empty string; over 64 characters, its digest.

    Raises:
        ValidationError: ``value`` is not a string, or is empty (the error names ``field``).
    """
    if not isinstance(value, str) or not value:
        return ev.check_id(field, value)  # raises, naming the field
    return safe_id(value)


class session:  # public API name, used like a function: ``with align.session(...)``
    """Scope in which every captured LLM call belongs to one given Align session.

    Usable as a context manager (``with`` / ``async with``) and as a decorator of sync or async
    functions and of sync or async generators (the scope is active only while the generator runs,
    never in its consumer between items). Scopes nest; the innermost wins.

    Args:
        session_id: the Align session id; one over 64 characters is sent as its stable digest
            ``h_<32 hex>`` (the same in every process and run), as over-long user ids are.
        user_id: the user of the session (overrides the request's ``user`` and the default user;
            over 64 characters: its digest, as for ``session_id``).
        assistant_id: sent with ``open_session`` (default ``"DEFAULT"``).
        custom_properties: sent with ``open_session`` (at most 10, Align's key and value rules).

    Raises:
        ValidationError: an id is not a non-empty string, or a custom property breaks the Align
            field rules (at construction: the app's own call, before any provider work).

    Example:
        >>> with align.session("support-42", user_id="user-9"):
        ...     openai_client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
        >>> @align.session("nightly-report")
        ... async def run(): ...
    """

    def __init__(
        self,
        session_id: str,
        user_id: str | None = None,
        assistant_id: str | None = None,
        custom_properties: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        self.scope = SessionScope(
            session_id=scope_id("session_id", session_id),
            user_id=None if user_id is None else scope_id("user_id", user_id),
            assistant_id=ev.optional_id("assistant_id", assistant_id),
            custom_properties=ev.check_custom_properties(custom_properties),
        )
        # A stack, so that one instance may be entered again while already active (re-entrant use).
        self._tokens: list[Token[SessionScope | None]] = []

    def __repr__(self) -> str:
        return f"align.session({self.scope.session_id!r}, user_id={self.scope.user_id!r})"

    def __enter__(self) -> session:
        self._tokens.append(_SCOPE.set(self.scope))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _SCOPE.reset(self._tokens.pop())

    async def __aenter__(self) -> session:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        scope = self.scope
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
                agen = func(*args, **kwargs)
                to_send: Any = None
                to_throw: BaseException | None = None
                while True:
                    token = _SCOPE.set(scope)
                    try:
                        if to_throw is not None:
                            exc, to_throw = to_throw, None
                            item = await agen.athrow(exc)
                        else:
                            item = await agen.asend(to_send)
                    except StopAsyncIteration:
                        return
                    finally:
                        _SCOPE.reset(token)
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        token = _SCOPE.set(scope)
                        try:
                            await agen.aclose()
                        finally:
                            _SCOPE.reset(token)
                        raise
                    except BaseException as thrown:
                        to_throw = thrown

            return cast(F, async_gen_wrapper)

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                gen = func(*args, **kwargs)
                to_send: Any = None
                to_throw: BaseException | None = None
                while True:
                    token = _SCOPE.set(scope)
                    try:
                        if to_throw is not None:
                            exc, to_throw = to_throw, None
                            item = gen.throw(exc)
                        else:
                            item = gen.send(to_send)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        _SCOPE.reset(token)
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        token = _SCOPE.set(scope)
                        try:
                            gen.close()
                        finally:
                            _SCOPE.reset(token)
                        raise
                    except BaseException as thrown:
                        to_throw = thrown

            return cast(F, gen_wrapper)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _SCOPE.set(scope)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _SCOPE.reset(token)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _SCOPE.set(scope)
            try:
                return func(*args, **kwargs)
            finally:
                _SCOPE.reset(token)

        return cast(F, wrapper)
