"""One-line instrumentation: ``align.autoinstrument()`` and the functions that go with it.

Nothing happens at import time. ``autoinstrument()`` builds (or takes) an :class:`AlignClient`,
creates the process's :class:`~align_instrument.sessions.SessionEngine`, and installs each
integration of :data:`~align_instrument.integrations.INTEGRATIONS` when the app imports its library
(at once for one imported already), each in its own ``try`` so that one failing integration never
disables the others. It never stops the app from starting: without credentials it warns once and
instruments nothing.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ._internal import logger
from .client import AlignClient, ConfigurationError
from .integrations import INTEGRATIONS, Installer
from .sessions.context import current_session, session
from .sessions.engine import DEFAULT_ASSISTANT_PROPERTIES, RedactHook, SessionEngine
from .sessions.store import MessageRef, SessionStore

REF_METHOD = "__align_message_ref__"
"""Objects that know their captured message (our stream and raw-response proxies) expose a method
of this name returning ``(MessageRef | None, key | None)``."""


@dataclass
class _Installed:
    client: AlignClient
    engine: SessionEngine
    installer: Installer
    unhook: list[Callable[[], None]] = field(default_factory=list)


_lock = threading.Lock()
_installed: _Installed | None = None
_inactive: AlignClient | None = None  # returned (and warned about) once while credentials are missing


def autoinstrument(
    api_key: str | None = None,
    project_id: str | None = None,
    host: str | None = None,
    *,
    client: AlignClient | None = None,
    session_timeout: float = 1800,
    default_user_id: str = "anonymous",
    redact: RedactHook | None = None,
    session_store: SessionStore | str | Any | None = None,
    assistant_properties: Collection[str] = DEFAULT_ASSISTANT_PROPERTIES,
    **options: Any,
) -> AlignClient:
    """Log every OpenAI / LangChain chat call of this process as Align sessions and messages.

    Idempotent: a second call returns the client of the first (its arguments are ignored; call
    :func:`uninstrument` first to change them). Works with provider clients built before the call.

    Args:
        api_key, project_id, host: as for :class:`AlignClient` (environment fallbacks apply).
        client: use this client instead of building one (the other client arguments are ignored).
        session_timeout: seconds of inactivity after which a session is closed.
        default_user_id: user of calls that name none (no scope user, no request ``user``).
        redact: ``(text, role) -> text`` applied to every message before it is enqueued.
        session_store: where session state lives: None (this process's memory, or
            ``ALIGNAI_SESSION_STORE`` when set), a ``redis://`` URL or a ``redis.Redis`` client
            (a :class:`~align_instrument.sessions.RedisSessionStore` is built on it), or any
            :class:`~align_instrument.sessions.SessionStore`: a shared store makes several
            worker processes and restarts log exactly what one process would.
        assistant_properties: custom property names put on assistant messages.
        **options: :class:`AlignClient` delivery options (e.g. ``before_send``, ``flush_interval``).

    Returns:
        The :class:`AlignClient` events go through (call ``flush()`` / ``close()`` on it).

        When no client can be built (no API key or project id for the default host, or another
        :class:`ConfigurationError`), nothing is instrumented, one warning says what to fix, and
        the client returned sends nothing (``stats()["inactive"]`` says why): the app still runs.

    Raises:
        ValueError: an engine bound is invalid. (A ``session_store`` that cannot be used, e.g. a
            URL of another scheme or ``redis`` not installed, logs a warning naming the fix and
            keeps sessions in memory: instrumentation never stops an app from starting.)

    Example:
        >>> import align_instrument as align
        >>> client = align.autoinstrument(host="http://127.0.0.1:8787")
        >>> OpenAI().chat.completions.create(model="gpt-4o-mini", messages=msgs)
        >>> client.flush()
        True
    """
    global _installed
    if options.pop("settle_seconds", None) is not None:  # removed: replies are no longer held back
        logger.warning(
            "align_instrument: settle_seconds is no longer used (each reply is logged when complete)"
        )
    with _lock:
        if _installed is not None:
            return _installed.client
        if client is None:
            try:
                client = AlignClient(api_key, project_id, host, **options)
            except ConfigurationError as exc:
                return _inactive_client(str(exc))
        engine = SessionEngine(
            client,
            store=_session_store(session_store, session_timeout, client.project_id),
            session_timeout=session_timeout,
            default_user_id=default_user_id,
            redact=redact,
            assistant_properties=assistant_properties,
        )
        installed = _Installed(client, engine, Installer(engine, client))
        # client.close() closes the sessions while the client still accepts their close events.
        installed.unhook.append(client.add_close_hook(engine.close))
        installed.unhook.append(client.add_stats_source("sessions", engine.stats))
        store_stats = getattr(engine.store, "stats", None)
        if callable(store_stats):  # a shared store's health: errors, skipped calls, outages
            installed.unhook.append(client.add_stats_source("session_store", store_stats))
        _installed = installed
    installed.installer.start()  # outside _lock: it may run inside another thread's import
    return client


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # in case a parent's thread was inside autoinstrument() at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _inactive_client(problem: str) -> AlignClient:
    global _inactive
    if _inactive is None:
        logger.warning(
            "align_instrument: autoinstrument() is instrumenting nothing, the app runs unchanged: %s",
            problem,
        )
        _inactive = AlignClient.inactive(f"autoinstrument() without a client: {problem}")
    return _inactive


def uninstrument() -> None:
    """Undo :func:`autoinstrument`: restore every patched original, log held replies, close the
    tracked sessions and stop the engine. The client stays usable (close it yourself).

    Example:
        >>> align.uninstrument()
    """
    global _installed
    with _lock:
        installed, _installed = _installed, None
    if installed is None:
        return
    installed.installer.stop()
    installed.engine.close(close_sessions=True)
    for unhook in installed.unhook:
        unhook()


def active_engine() -> SessionEngine | None:
    """The engine installed by :func:`autoinstrument`, or None (for integrations and tests)."""
    installed = _installed
    return installed.engine if installed is not None else None


def message_ref(obj: object) -> MessageRef | None:
    """Where the reply captured for ``obj`` was logged: ``(session_id, message_index)``.

    Args:
        obj: an OpenAI response object (``ChatCompletion``, ``Response``, parsed variants), a
            stream the app read (also a ``.stream()`` helper's final completion), a raw response,
            a response id string, a LangChain run id (``UUID`` or string), or a :class:`MessageRef`.

    Returns:
        The ref, or None when nothing was captured for it (or it has expired, or had no text).

    Example:
        >>> reply = openai_client.chat.completions.create(...)
        >>> align.message_ref(reply)
        MessageRef(session_id='9f0c...', message_index=2)
    """
    return _resolve(obj)[0]


def feedback(obj: object, feedback_type: str) -> bool:
    """Send thumbs up/down for the reply captured for ``obj`` (see :func:`message_ref`).

    Args:
        obj: what :func:`message_ref` accepts.
        feedback_type: ``"thumbs_up"`` or ``"thumbs_down"``.

    Returns:
        True when feedback was sent, False when no captured message is known for ``obj``.

    Raises:
        ValidationError: ``feedback_type`` is not a valid feedback type.

    Example:
        >>> align.feedback(reply, align.FEEDBACK_THUMBS_UP)
        True
    """
    ref, key = _resolve(obj)
    installed = _installed
    if ref is None or installed is None:
        from . import events as ev

        ev.check_feedback_type(feedback_type)
        return False
    installed.engine.send_feedback(ref, feedback_type, key=key)
    return True


def _resolve(obj: object) -> tuple[MessageRef | None, str | None]:
    installed = _installed
    if installed is None:
        return None, None
    if isinstance(obj, MessageRef):
        return obj, None
    key: str | None = None
    if isinstance(obj, str):
        key = obj
    elif isinstance(obj, uuid.UUID):
        key = str(obj)
    else:
        method: Callable[[], tuple[MessageRef | None, str | None]] | None = getattr(obj, REF_METHOD, None)
        if method is None:
            # A ``.stream()`` helper (ChatCompletionStream / ResponseStream) wraps our stream proxy.
            method = getattr(getattr(obj, "_raw_stream", None), REF_METHOD, None)
        if method is not None:
            try:
                return method()
            except Exception:
                installed.client.record_internal_error("message_ref")
                return None, None
        candidate = getattr(obj, "id", None)
        if isinstance(candidate, str):
            key = candidate
    if key is None:
        return None, None
    return installed.engine.message_ref(key), key


def _session_store(setting: object, session_timeout: float, project_id: str) -> SessionStore | None:
    """The store named by ``session_store=`` or ``ALIGNAI_SESSION_STORE``: a store as it is, a URL
    or a Redis client wrapped in a RedisSessionStore (redis is imported only then)."""
    if setting is None:
        setting = os.environ.get("ALIGNAI_SESSION_STORE") or None
    if setting is None or callable(getattr(setting, "begin_turn", None)):
        return setting  # type: ignore[return-value]
    try:
        from .sessions.redis_store import RedisSessionStore

        return RedisSessionStore(setting, session_timeout=session_timeout, project=project_id)  # type: ignore[arg-type]
    except (ImportError, ValueError, TypeError) as exc:
        # Instrumentation never stops an app from starting: say what to fix, keep sessions in memory.
        logger.warning(
            "align_instrument: session_store cannot be used (%s); sessions are kept in this process's "
            "memory, so several workers will not share them. Fix ALIGNAI_SESSION_STORE / session_store= "
            "(a redis:// URL; pip install 'align-instrument[redis]').",
            exc,
        )
        return None


__all__ = [
    "INTEGRATIONS",
    "active_engine",
    "autoinstrument",
    "current_session",
    "feedback",
    "message_ref",
    "session",
    "uninstrument",
]
