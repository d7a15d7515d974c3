"""Session state behind one small interface, so that a shared store (Redis) can replace the in-memory one.

What is stored (all of it bounded by count and by age):

- threading points: chained hash of a conversation prefix -> ``(session_id, next_index)``, the
  index the next logged message after that prefix takes;
- response points: provider response id (or a LangChain run id) -> the session, the index of
  the reply logged for it (None when it had no text) and the next index after it;
- sessions: session id -> :class:`SessionState` (next free index, last activity, opened flag),
  ordered by last activity so that expiry and overflow pop the least recently active first;
- closed sessions: session id -> next index, so that a scope that keeps using a session id after
  its inactivity close never reuses an index.

A multi-process store must make ``create_session`` / ``save_session`` atomic per session (e.g. a
Redis hash + a sorted set by last activity, under a Lua script or WATCH); the engine serialises
calls within one process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, NamedTuple, Protocol, TypeVar

V = TypeVar("V")


class MessageRef(NamedTuple):
    """Where a captured message was logged: feed it to ``create_message_feedback``.

    Attributes:
        session_id: the Align session the message was logged in.
        message_index: its index in that session.
    """

    session_id: str
    message_index: int


class ThreadPoint(NamedTuple):
    """A known conversation prefix: its session and the index the next logged message takes."""

    session_id: str
    next_index: int


class ResponsePoint(NamedTuple):
    """A provider response (or run) we captured: its session, the index of its logged reply
    (None when the reply had no text, e.g. only tool calls) and the index that follows it."""

    session_id: str
    next_index: int
    message_index: int | None


@dataclass(slots=True)
class SessionState:
    """Per-session state. ``last_reply_index`` is the index reserved by the latest assistant reply
    (0 before any); ``last_activity`` is wall-clock seconds (comparable across processes)."""

    session_id: str
    user_id: str
    next_index: int = 1
    last_reply_index: int = 0
    last_activity: float = 0.0
    opened: bool = False


class SessionStore(Protocol):
    """The interface the :class:`~align_instrument.sessions.engine.SessionEngine` needs."""

    def get_thread(self, key: bytes) -> ThreadPoint | None:
        """The point recorded for a prefix hash, or None (unknown or expired)."""
        ...

    def put_thread(self, key: bytes, point: ThreadPoint) -> None:
        """Record (or refresh) a prefix hash."""
        ...

    def get_response(self, response_id: str) -> ResponsePoint | None:
        """The point recorded for a response id / run id, or None."""
        ...

    def put_response(self, response_id: str, point: ResponsePoint) -> None:
        """Record a response id / run id."""
        ...

    def get_session(self, session_id: str) -> SessionState | None:
        """The state of an active (not closed) session, or None."""
        ...

    def create_session(
        self, session_id: str, user_id: str, now: float
    ) -> tuple[SessionState, list[SessionState]]:
        """Start tracking a session; a recently closed one resumes its next index.

        Returns:
            The new state and the states evicted to stay within capacity (least recently active
            first); the caller closes those.
        """
        ...

    def save_session(self, state: SessionState, now: float) -> None:
        """Write back a session's state and mark it active at ``now``."""
        ...

    def pop_expired(self, inactive_since: float) -> list[SessionState]:
        """Stop tracking and return the sessions whose last activity is before ``inactive_since``."""
        ...

    def pop_all(self) -> list[SessionState]:
        """Stop tracking and return every active session (at shutdown)."""
        ...


class _TtlLru(Generic[V]):
    """A dict bounded by count (least recently written evicted) and by age (lazy expiry)."""

    __slots__ = ("_data", "_max_items", "_ttl")

    def __init__(self, max_items: int, ttl: float) -> None:
        self._data: OrderedDict[object, tuple[float, V]] = OrderedDict()
        self._max_items = max_items
        self._ttl = ttl

    def get(self, key: object, now: float) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] < now:
            del self._data[key]
            return None
        return entry[1]

    def put(self, key: object, value: V, now: float) -> None:
        data = self._data
        data[key] = (now + self._ttl, value)
        data.move_to_end(key)
        # Entries are kept in write order, so expired ones are at the front.
        while data:
            first = next(iter(data.values()))
            if len(data) > self._max_items or first[0] < now:
                data.popitem(last=False)
            else:
                break

    def __len__(self) -> int:
        return len(self._data)


class InMemorySessionStore:
    """The default :class:`SessionStore`: one process, bounded, thread-safe.

    Args:
        session_ttl: seconds after which threading points and response points expire (use the
            session timeout: a prefix of a closed session must not be continued).
        max_sessions: active sessions tracked; beyond it the least recently active is evicted.
        max_threads: threading points kept.
        max_responses: response / run ids kept.

    Example:
        >>> store = InMemorySessionStore(session_ttl=1800)
        >>> engine = SessionEngine(client, store=store)
    """

    def __init__(
        self,
        session_ttl: float = 1800.0,
        *,
        max_sessions: int = 10_000,
        max_threads: int = 50_000,
        max_responses: int = 10_000,
    ) -> None:
        if max_sessions < 1 or max_threads < 1 or max_responses < 1 or session_ttl <= 0:
            raise ValueError("store bounds must be positive")
        self._lock = threading.Lock()
        self._threads: _TtlLru[ThreadPoint] = _TtlLru(max_threads, session_ttl)
        self._responses: _TtlLru[ResponsePoint] = _TtlLru(max_responses, session_ttl)
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()
        self._closed: _TtlLru[int] = _TtlLru(max_sessions, max(session_ttl * 48, 86_400.0))
        self._max_sessions = max_sessions

    def get_thread(self, key: bytes) -> ThreadPoint | None:
        with self._lock:
            return self._threads.get(key, time.monotonic())

    def put_thread(self, key: bytes, point: ThreadPoint) -> None:
        with self._lock:
            self._threads.put(key, point, time.monotonic())

    def get_response(self, response_id: str) -> ResponsePoint | None:
        with self._lock:
            return self._responses.get(response_id, time.monotonic())

    def put_response(self, response_id: str, point: ResponsePoint) -> None:
        with self._lock:
            self._responses.put(response_id, point, time.monotonic())

    def get_session(self, session_id: str) -> SessionState | None:
        with self._lock:
            return self._sessions.get(session_id)

    def create_session(
        self, session_id: str, user_id: str, now: float
    ) -> tuple[SessionState, list[SessionState]]:
        with self._lock:
            existing = self._sessions.get(session_id)
            if existing is not None:
                return existing, []
            resumed_next = self._closed.get(session_id, time.monotonic()) or 1
            state = SessionState(session_id, user_id, next_index=resumed_next, last_activity=now)
            self._sessions[session_id] = state
            evicted: list[SessionState] = []
            while len(self._sessions) > self._max_sessions:
                evicted.append(self._pop_oldest())
            return state, evicted

    def save_session(self, state: SessionState, now: float) -> None:
        with self._lock:
            state.last_activity = now
            self._sessions[state.session_id] = state
            self._sessions.move_to_end(state.session_id)

    def pop_expired(self, inactive_since: float) -> list[SessionState]:
        out: list[SessionState] = []
        with self._lock:
            while self._sessions:
                first = next(iter(self._sessions.values()))
                if first.last_activity >= inactive_since:
                    break
                out.append(self._pop_oldest())
        return out

    def pop_all(self) -> list[SessionState]:
        with self._lock:
            out = []
            while self._sessions:
                out.append(self._pop_oldest())
            return out

    def _pop_oldest(self) -> SessionState:
        _, state = self._sessions.popitem(last=False)
        self._closed.put(state.session_id, state.next_index, time.monotonic())
        return state

    def sizes(self) -> dict[str, int]:
        """How many entries each map holds (for tests and the memory benchmark)."""
        with self._lock:
            return {
                "sessions": len(self._sessions),
                "threads": len(self._threads),
                "responses": len(self._responses),
                "closed": len(self._closed),
            }
