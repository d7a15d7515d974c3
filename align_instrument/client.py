"""The public client: the whole Align API, validated on the caller's thread, delivered in the background."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from . import events as ev
from ._internal import logger, report_internal_error
from .delivery import Delivery
from .inactive import InactiveDelivery
from .options import DeliveryOptions
from .transport import is_loopback
from .wire import COLLECT_EVENTS_PATH

DEFAULT_HOST = "https://api.impaction.ai"
LOCAL_PROJECT_ID = "local"
_OPTION_NAMES = frozenset(f.name for f in dataclass_fields(DeliveryOptions))


class ConfigurationError(ValueError):
    """The client cannot be built from the arguments and environment given."""


class AlignClient:
    """Sends users, sessions, messages and feedback to Align (or to the local collector).

    Every method validates its arguments on the caller's thread and raises
    :class:`~align_instrument.ValidationError` (nothing is sent) when a field rule is broken;
    otherwise it appends the event to a bounded in-memory buffer and returns at once. A
    background worker delivers the buffer in batches.

    Args:
        api_key: Align API key; defaults to ``ALIGNAI_API_KEY``. Never logged.
        project_id: Align project id; defaults to ``ALIGNAI_PROJECT_ID``.
        host: API host; defaults to ``ALIGNAI_HOST``, then ``https://api.impaction.ai``. A loopback
            host (the local collector) needs neither key nor project id (project ``local``).
        **options: tuning of delivery, see :class:`~align_instrument.options.DeliveryOptions`
            (``flush_interval``, ``max_batch_events``, ``max_queue_events``, ``max_queue_bytes``,
            ``max_retries``, ``on_drop``, ``before_send``, ``shutdown_timeout``, ...), and
            ``recent_sessions`` (how many sessions' message indexes are remembered to reject
            duplicates, default 10,000).

    Raises:
        ConfigurationError: the key or project id is missing for a non-loopback host, or an
            option is unknown or out of range.

    Example:
        >>> client = AlignClient(host="http://127.0.0.1:8787")
        >>> client.open_session("s-1", user_id="u-1")
        >>> client.create_message("s-1", 1, ROLE_USER, "Hi!")
        >>> client.close()
        True
    """

    def __init__(
        self,
        api_key: str | None = None,
        project_id: str | None = None,
        host: str | None = None,
        **options: Any,
    ) -> None:
        host = (host or os.environ.get("ALIGNAI_HOST") or DEFAULT_HOST).rstrip("/")
        parsed = urlparse(host)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigurationError(f"host must be an http(s) URL such as {DEFAULT_HOST!r} (got {host!r})")
        loopback = is_loopback(host)
        api_key = api_key or os.environ.get("ALIGNAI_API_KEY") or None
        project_id = project_id or os.environ.get("ALIGNAI_PROJECT_ID") or None
        if not loopback:
            if not api_key:
                raise ConfigurationError(
                    "Align API key missing: pass api_key=... or set ALIGNAI_API_KEY "
                    "(only a loopback host such as the local collector may go without one)"
                )
            if not project_id:
                raise ConfigurationError(
                    "Align project id missing: pass project_id=... or set ALIGNAI_PROJECT_ID "
                    "(only a loopback host such as the local collector may go without one)"
                )
            if parsed.scheme == "http":
                logger.warning(
                    "align_instrument: sending the API key over plain http to %s; use https", parsed.hostname
                )
        self.host = host
        self.project_id: str = project_id or LOCAL_PROJECT_ID
        recent_sessions = options.pop("recent_sessions", 10_000)
        unknown = set(options) - _OPTION_NAMES
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) {sorted(unknown)}; known: {sorted(_OPTION_NAMES | {'recent_sessions'})}"
            )
        delivery_options = DeliveryOptions(**options)
        try:
            delivery_options.validate()
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if not isinstance(recent_sessions, int) or recent_sessions < 1:
            raise ConfigurationError(f"recent_sessions must be a positive int (got {recent_sessions!r})")
        self._init_state(Delivery(host + COLLECT_EVENTS_PATH, api_key, self.project_id, delivery_options))
        self._recent_sessions = recent_sessions

    def _init_state(self, delivery: Delivery | InactiveDelivery) -> None:
        self._delivery = delivery
        self._recent_sessions = 10_000
        self._index_lock = threading.Lock()
        self._used_indexes: dict[str, set[int]] = {}  # insertion order: oldest session first
        self._internal_errors: dict[str, int] = {}
        self._close_hooks: list[Callable[[], object]] = []
        self._stats_sources: dict[str, Callable[[], dict[str, int]]] = {}
        _clients.add(self)

    @classmethod
    def inactive(cls, reason: str) -> AlignClient:
        """A client that checks every call as usual and sends nothing: events are dropped, counted
        in ``stats()["dropped"]["inactive"]``, and ``stats()["inactive"]`` is ``reason``.

        What :func:`~align_instrument.autoinstrument` returns when it cannot build a client (no
        API key for the default host), so that the app runs unchanged.

        Args:
            reason: why nothing is sent, with the fix.

        Example:
            >>> client = AlignClient.inactive("no API key: set ALIGNAI_API_KEY")
            >>> client.stats()["inactive"]
            'no API key: set ALIGNAI_API_KEY'
        """
        client = cls.__new__(cls)
        client.host = ""
        client.project_id = ""
        client._init_state(InactiveDelivery(reason))
        return client

    def __repr__(self) -> str:
        if isinstance(self._delivery, InactiveDelivery):
            return f"{type(self).__name__}(inactive)"
        return f"{type(self).__name__}(host={self.host!r}, project_id={self.project_id!r})"

    # --- the Align API ---------------------------------------------------------------------------------

    def identify_user(
        self,
        user_id: str,
        display_name: str | None = None,
        email: str | None = None,
        ip: str | None = None,
        country_code: str | None = None,
        create_time: datetime | None = None,
        custom_properties: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        """Record a user (``user_recognize``): at sign-up, on a profile change, or when a session opens.

        Args:
            user_id: your user id, at most 64 characters.
            display_name: shown on the dashboard, at most 64 characters.
            email: at most 256 characters.
            ip: an IPv4 address; ``country_code`` overrides it.
            country_code: ISO 3166-1 alpha-2, e.g. ``"KR"``.
            create_time: when the user was created; a naive datetime is taken as UTC.
            custom_properties: up to 10 ``{key: value}``; keys match ``^[a-zA-Z][a-zA-Z0-9_]{0,63}$``,
                values are strings of at most 256 characters (int/float/bool are converted).

        Raises:
            ValidationError: a field breaks its rule; nothing is sent.

        Example:
            >>> client.identify_user("u-1", display_name="Ada", country_code="GB")
        """
        fields = ev.user_fields(user_id, display_name, email, ip, country_code, create_time)
        props = ev.check_custom_properties(custom_properties)
        size = ev.EVENT_OVERHEAD_BYTES + sum(len(f) for f in fields if isinstance(f, str))
        self._delivery.submit(
            ev.USER_RECOGNIZE, time.time(), fields, props, size + ev.custom_properties_size(props)
        )

    def open_session(
        self,
        session_id: str,
        user_id: str,
        assistant_id: str | None = None,
        custom_properties: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        """Record the start of a session (``session_open``, with ``sessionStartTime`` = now).

        Args:
            session_id: at most 64 characters.
            user_id: the user the session belongs to, at most 64 characters.
            assistant_id: which assistant answers, at most 64 characters (default ``"DEFAULT"``).
            custom_properties: as for :meth:`identify_user`.

        Raises:
            ValidationError: a field breaks its rule; nothing is sent.

        Example:
            >>> client.open_session("s-1", "u-1", assistant_id="support-bot")
        """
        fields = (
            ev.check_id("session_id", session_id),
            ev.check_id("user_id", user_id),
            ev.DEFAULT_ASSISTANT_ID if assistant_id is None else ev.check_id("assistant_id", assistant_id),
        )
        props = ev.check_custom_properties(custom_properties)
        size = ev.EVENT_OVERHEAD_BYTES + 3 * ev.MAX_ID_CHARS + ev.custom_properties_size(props)
        self._delivery.submit(ev.SESSION_OPEN, time.time(), fields, props, size)

    def create_message(
        self,
        session_id: str,
        message_index: int,
        role: str,
        content: str,
        custom_properties: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        """Record one message of a session (``message_create``).

        Args:
            session_id: at most 64 characters.
            message_index: a positive int (not bool or float), unique within the session; it orders
                the transcript. Reusing one that this client saw recently is an error.
            role: ``ROLE_USER`` (``"user"``) or ``ROLE_ASSISTANT`` (``"assistant"``).
            content: the text, non-empty.
            custom_properties: as for :meth:`identify_user`.

        Raises:
            ValidationError: a field breaks its rule, or the index is already used; nothing is sent.

        Example:
            >>> client.create_message("s-1", 1, ROLE_USER, "How do I reset my password?")
        """
        # Fast path for the common, valid call; the full checks below name what is wrong.
        if not (
            type(session_id) is str
            and 0 < len(session_id) <= ev.MAX_ID_CHARS
            and type(message_index) is int
            and 0 < message_index <= ev.MAX_INT32
            and (role == "user" or role == "assistant")
            and type(content) is str
            and content
            and session_id.isascii()
        ):
            session_id = ev.check_id("session_id", session_id)
            message_index = ev.check_message_index(message_index)
            role = ev.check_role(role)
            content = ev.check_content(content)
        elif not content.isascii():
            content = ev.encodable(content)  # e.g. half an emoji from a JS front end
        props = None if custom_properties is None else ev.check_custom_properties(custom_properties)
        self._claim_index(session_id, message_index)
        size = ev.EVENT_OVERHEAD_BYTES + len(session_id) + len(content)
        if props:
            size += ev.custom_properties_size(props)
        self._delivery.submit(
            ev.MESSAGE_CREATE, time.time(), (session_id, message_index, role, content), props, size
        )

    def close_session(self, session_id: str) -> None:
        """Record the end of a session (``session_close``).

        Args:
            session_id: the session to close.

        Raises:
            ValidationError: ``session_id`` breaks its rule.

        Example:
            >>> client.close_session("s-1")
        """
        fields = (ev.check_id("session_id", session_id),)
        self._delivery.submit(ev.SESSION_CLOSE, time.time(), fields, None, ev.EVENT_OVERHEAD_BYTES + 64)

    def create_message_feedback(self, session_id: str, message_index: int, feedback_type: str) -> None:
        """Record thumbs up/down on one message (``feedback_create``, target ``TARGET_MESSAGE``).

        Args:
            session_id: the message's session.
            message_index: the message's index.
            feedback_type: ``FEEDBACK_THUMBS_UP`` or ``FEEDBACK_THUMBS_DOWN``.

        Raises:
            ValidationError: a field breaks its rule.

        Example:
            >>> client.create_message_feedback("s-1", 2, FEEDBACK_THUMBS_UP)
        """
        fields = (
            ev.check_id("session_id", session_id),
            ev.check_message_index(message_index),
            ev.check_feedback_type(feedback_type),
        )
        self._delivery.submit(ev.FEEDBACK_CREATE, time.time(), fields, None, ev.EVENT_OVERHEAD_BYTES + 64)

    def create_session_feedback(self, session_id: str, feedback_type: str) -> None:
        """Record thumbs up/down on a whole session (``feedback_create``, target ``TARGET_SESSION``).

        Args:
            session_id: the rated session.
            feedback_type: ``FEEDBACK_THUMBS_UP`` or ``FEEDBACK_THUMBS_DOWN``.

        Raises:
            ValidationError: a field breaks its rule.

        Example:
            >>> client.create_session_feedback("s-1", FEEDBACK_THUMBS_DOWN)
        """
        fields = (ev.check_id("session_id", session_id), None, ev.check_feedback_type(feedback_type))
        self._delivery.submit(ev.FEEDBACK_CREATE, time.time(), fields, None, ev.EVENT_OVERHEAD_BYTES + 64)

    def flush(self, timeout_seconds: float | None = 5) -> bool:
        """Deliver now what is buffered; wait at most ``timeout_seconds``.

        Args:
            timeout_seconds: how long to wait (``None``: 5). Delivery goes on in the background after.

        Returns:
            True when every event enqueued before the call was delivered (accepted by the server).

        Example:
            >>> client.flush(timeout_seconds=2)
            True
        """
        return self._delivery.flush(5.0 if timeout_seconds is None else float(timeout_seconds))

    def close(self, timeout_seconds: float | None = 5) -> bool:
        """Flush, then shut the client down; later calls are dropped (counted) with one warning.

        Args:
            timeout_seconds: how long to wait for delivery (``None``: 5); what is left then is lost
                and counted as ``dropped["shutdown"]``.

        Returns:
            True only when everything was delivered and no batch is still in flight.

        Example:
            >>> client.close()
            True
        """
        self._run_close_hooks()
        return self._delivery.close(5.0 if timeout_seconds is None else float(timeout_seconds))

    def stats(self) -> dict[str, Any]:
        """Counts since construction: ``enqueued``, ``sent``, ``retried``, ``batches``, ``pending``,
        ``dropped`` (by reason: ``queue_full``, ``closed``, ``rejected``, ``http_401``, ``shutdown``, ...)
        and ``internal_errors`` (by kind, from the instrumentations); ``inactive`` (why nothing is
        sent) on a client from :meth:`inactive`.

        Example:
            >>> client.stats()["dropped"]
            {}
        """
        out = self._delivery.stats()
        out["internal_errors"] = dict(self._internal_errors)
        for name, source in list(self._stats_sources.items()):
            try:
                out[name] = source()
            except Exception:
                report_internal_error(self, "stats_source")
        return out

    # --- for the instrumentations ----------------------------------------------------------------------

    def add_close_hook(self, hook: Callable[[], object]) -> Callable[[], None]:
        """Call ``hook`` at the start of :meth:`close`, while the client still accepts events.

        An instrumentation with final events (the session engine's ``close_session``) uses it so
        that they are delivered by the close. Errors in the hook are counted, never raised.

        Args:
            hook: a callable taking no arguments.

        Returns:
            A function that removes the hook.

        Example:
            >>> remove = client.add_close_hook(engine.close)
            >>> remove()
        """
        self._close_hooks.append(hook)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._close_hooks.remove(hook)

        return remove

    def add_stats_source(self, name: str, source: Callable[[], dict[str, int]]) -> Callable[[], None]:
        """Show ``source()`` as ``stats()[name]`` (e.g. the session engine's counters).

        Args:
            name: the key in :meth:`stats`.
            source: returns the counters; errors in it are counted, never raised.

        Returns:
            A function that removes the source.

        Example:
            >>> remove = client.add_stats_source("sessions", engine.stats)
        """
        self._stats_sources[name] = source

        def remove() -> None:
            if self._stats_sources.get(name) is source:
                del self._stats_sources[name]

        return remove

    def _run_close_hooks(self) -> None:
        for hook in list(self._close_hooks):
            try:
                hook()
            except Exception:
                report_internal_error(self, "close_hook")

    def record_internal_error(self, kind: str) -> None:
        """Count an error caught inside the instrumentation (shown in ``stats()["internal_errors"]``).

        Args:
            kind: a short name of where it happened, e.g. ``"openai_stream"``.

        Example:
            >>> client.record_internal_error("openai_stream")
        """
        self._internal_errors[kind] = self._internal_errors.get(kind, 0) + 1

    def _claim_index(self, session_id: str, message_index: int) -> None:
        # No lock: set and dict operations are atomic under the GIL, and the only race (two threads
        # logging the very same index at the same instant) is an app bug we may then miss.
        used = self._used_indexes.get(session_id)
        if used is None:
            used = self._used_indexes.setdefault(session_id, set())
            if len(self._used_indexes) > self._recent_sessions:
                self._forget_oldest_session()
        elif message_index in used:
            raise ev.ValidationError(
                "message_index", f"is already used in session {session_id!r}", message_index
            )
        used.add(message_index)

    def _forget_oldest_session(self) -> None:
        with self._index_lock:
            while len(self._used_indexes) > self._recent_sessions:
                try:
                    del self._used_indexes[next(iter(self._used_indexes))]
                except (RuntimeError, StopIteration, KeyError):  # changed by another thread meanwhile
                    break


_clients: weakref.WeakSet[AlignClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock a parent's thread held at the instant of the fork stays held in the child forever.
    for client in list(_clients):
        client._index_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Config:
    """The official ``alignai.config.Config``, accepted unchanged by :class:`AlignAI`.

    Buffer and batch sizes are taken as minimums (bigger is better here); ``api_max_retries``
    is a minimum too: transient failures are retried until delivered or closed.

    Args:
        flush_interval_ms: longest wait before a partly filled batch is sent.
        flush_batch_size: events per request (at least 500 are sent together here).
        flush_timeout_seconds: default timeout of ``flush()`` and ``close()``.
        max_buffer_size: buffered events (at least 100,000 here; never blocks, drops when full).
        api_max_retries: accepted for compatibility; retries go on until delivered or closed.

    Example:
        >>> Config(flush_interval_ms=1000, flush_batch_size=100)
    """

    def __init__(
        self,
        flush_interval_ms: int = 3000,
        flush_batch_size: int = 50,
        flush_timeout_seconds: int = 5,
        max_buffer_size: int = 200,
        api_max_retries: int = 3,
    ) -> None:
        self.flush_interval_ms = flush_interval_ms
        self.flush_batch_size = flush_batch_size
        self.flush_timeout_seconds = flush_timeout_seconds
        self.max_buffer_size = max_buffer_size
        self.api_max_retries = api_max_retries


class AlignAI(AlignClient):
    """Drop-in for the official SDK's ``alignai.AlignAI``: same constructor, same methods.

    Args:
        project_id: Align project id; defaults to ``ALIGNAI_PROJECT_ID``.
        api_key: Align API key; defaults to ``ALIGNAI_API_KEY``.
        api_host: API host; defaults to ``ALIGNAI_HOST``, then ``https://api.impaction.ai``.
        config: a :class:`Config`; the official defaults when None.

    Raises:
        ConfigurationError: as for :class:`AlignClient`.

    Example:
        >>> from align_instrument import AlignAI, Config   # was: from alignai import AlignAI
        >>> client = AlignAI(project_id="p", api_key="k", config=Config(flush_interval_ms=1000))
    """

    def __init__(
        self,
        project_id: str | None = None,
        api_key: str | None = None,
        api_host: str | None = None,
        config: Config | None = None,
    ) -> None:
        self.config = config or Config()
        defaults = DeliveryOptions()
        super().__init__(
            api_key=api_key,
            project_id=project_id,
            host=api_host,
            flush_interval=self.config.flush_interval_ms / 1000,
            max_batch_events=max(self.config.flush_batch_size, defaults.max_batch_events),
            max_queue_events=max(self.config.max_buffer_size, defaults.max_queue_events),
        )
        self.api_host = self.host

    def open_session(
        self,
        session_id: str,
        user_id: str,
        assistant_id: str | None = ev.DEFAULT_ASSISTANT_ID,
        custom_properties: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        super().open_session(session_id, user_id, assistant_id, custom_properties)

    def flush(self, timeout_seconds: float | None = None) -> bool:
        """As :meth:`AlignClient.flush`, the timeout defaulting to ``config.flush_timeout_seconds``.

        Args:
            timeout_seconds: how long to wait; ``None`` takes the config's.

        Example:
            >>> client.flush()
            True
        """
        return super().flush(
            self.config.flush_timeout_seconds if timeout_seconds is None else timeout_seconds
        )

    def close(self, timeout_seconds: float | None = None) -> bool:
        """As :meth:`AlignClient.close`, the timeout defaulting to ``config.flush_timeout_seconds``.

        Args:
            timeout_seconds: how long to wait; ``None`` takes the config's.

        Example:
            >>> client.close()
            True
        """
        return super().close(
            self.config.flush_timeout_seconds if timeout_seconds is None else timeout_seconds
        )
