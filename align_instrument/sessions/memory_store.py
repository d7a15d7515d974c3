"""The default session store: one process, bounded, thread-safe, and the reference semantics of
:class:`~align_instrument.sessions.store.SessionStore` (a shared store must behave the same)."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from .store import (
    AMBIGUOUS,
    DONE,
    FAILED,
    INCOMPLETE,
    INFLIGHT,
    ResponsePoint,
    TurnClaim,
    TurnOutcome,
    TurnPlan,
)

V = TypeVar("V")


class TtlLru(Generic[V]):
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

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


@dataclass(slots=True)
class _Session:
    user_id: str
    next_index: int
    last_activity: float


@dataclass(slots=True)
class _Turn:
    session_id: str
    reply_index: int
    status: int


_stores: weakref.WeakSet[InMemorySessionStore] = weakref.WeakSet()


def _reset_in_child() -> None:
    for store in list(_stores):
        store._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def _repeats_opening(plan: TurnPlan, status: int) -> bool:
    """Whether the same opening request (no known output) again is the same turn: a retry of a
    failed or cut-short call always; a regeneration only when the plan allows it."""
    return status in (FAILED, INCOMPLETE) or (plan.regenerate_first and status in (DONE, INFLIGHT))


class InMemorySessionStore:
    """The default :class:`~align_instrument.sessions.store.SessionStore`: one process, bounded.

    A forked child starts empty (a new lock, no sessions): it must not close or continue its
    parent's sessions, which the parent goes on serving.

    Args:
        session_ttl: the session timeout; anchors and closed sessions are remembered 48 times as
            long (at least a day), so that a conversation resumed after its inactivity close is
            recognised, and turns as long as it.
        max_sessions: active sessions tracked; beyond it the least recently active is evicted.
        max_anchors: anchor keys kept (about 3 per reply).
        max_turns: turn records kept.
        max_responses: response / run ids kept.

    Example:
        >>> store = InMemorySessionStore(session_ttl=1800)
        >>> engine = SessionEngine(client, store=store)
    """

    shared = False

    def __init__(
        self,
        session_ttl: float = 1800.0,
        *,
        max_sessions: int = 10_000,
        max_anchors: int = 100_000,
        max_turns: int = 50_000,
        max_responses: int = 10_000,
    ) -> None:
        if min(max_sessions, max_anchors, max_turns, max_responses) < 1 or session_ttl <= 0:
            raise ValueError("store bounds must be positive")
        memory = max(session_ttl * 48, 86_400.0)
        self._lock = threading.Lock()
        self._anchors: TtlLru[str] = TtlLru(max_anchors, memory)
        self._turns: TtlLru[_Turn] = TtlLru(max_turns, session_ttl)
        self._responses: TtlLru[ResponsePoint] = TtlLru(max_responses, memory)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._closed: TtlLru[int] = TtlLru(max_sessions, memory)
        self._max_sessions = max_sessions
        _stores.add(self)

    # --- the SessionStore operations -------------------------------------------------------------------

    def begin_turn(self, plan: TurnPlan, now: float) -> TurnClaim:
        mono = time.monotonic()
        with self._lock:
            sid: str | None = None
            explicit = False
            if plan.response_key is not None:
                point = self._responses.get(plan.response_key, mono)
                if point is not None:
                    sid, explicit = point.session_id, True
            if sid is None and plan.session_id is not None:
                sid, explicit = plan.session_id, True

            # The newest output of the request that was captured: unknown outputs (never captured,
            # or edited by the app) are skipped; an ambiguous one stops the search.
            anchor, found, ambiguous = -1, None, False
            for i, candidate in enumerate(plan.anchors):
                for key in candidate.keys:
                    value = self._anchors.get(key, mono)
                    if value == AMBIGUOUS:
                        ambiguous = True
                    elif value is not None:
                        found = value
                        break
                if found is not None:
                    anchor, ambiguous = i, False
                    break
                if ambiguous:
                    break

            turn_key = plan.anchors[anchor].turn_key if anchor >= 0 else plan.opening_key
            count = plan.anchors[anchor].new_count if anchor >= 0 else plan.opening_count
            turn = self._turns.get(turn_key, mono)
            if turn is not None and anchor < 0 and not _repeats_opening(plan, turn.status):
                turn = None
            continues = ""
            if not explicit:
                if found is not None:
                    sid = found
                elif turn is not None:
                    sid = turn.session_id
            if sid is not None and not explicit and sid not in self._sessions:
                # The conversation's session was closed for inactivity: a new one continues it.
                continues, sid, turn = sid, None, None
            if turn is not None and turn.session_id != sid:
                turn = None

            opened = False
            evicted: list[str] = []
            log = "new"
            if sid is None:
                sid = plan.new_session_id
            state = self._sessions.get(sid)
            if state is None:
                resumed = self._closed.get(sid, mono)
                state = _Session(plan.user_id, resumed or 1, now)
                self._sessions[sid] = state
                opened = True
                if not continues and not ambiguous and anchor < 0:
                    log, count = "history", plan.history_count
                while len(self._sessions) > self._max_sessions:
                    evicted.append(self._pop_oldest(mono))
            regenerates = 0
            if turn is not None:  # the same request again: a retry or a regeneration
                log, count = "none", 0
                regenerates = turn.reply_index if turn.status != FAILED else 0
                turn.status = INFLIGHT
            else:
                self._turns.put(turn_key, _Turn(sid, 0, INFLIGHT), mono)
            first = state.next_index
            state.next_index += count
            state.last_activity = now
            self._sessions.move_to_end(sid)
            return TurnClaim(
                sid,
                state.user_id,
                anchor,
                first,
                log,
                opened,
                continues,
                regenerates,
                ambiguous,
                tuple(evicted),
            )

    def end_turn(self, outcome: TurnOutcome, now: float) -> int:
        mono = time.monotonic()
        sid = outcome.session_id
        with self._lock:
            state = self._sessions.get(sid)
            reply_index = 0
            if state is not None:
                if outcome.has_text:
                    reply_index = state.next_index
                    state.next_index += 1
                state.last_activity = now
                self._sessions.move_to_end(sid)
            elif outcome.has_text:  # closed while the call ran: a fresh index, the session stays closed
                reply_index = self._closed.get(sid, mono) or 1
                self._closed.put(sid, reply_index + 1, mono)
            turn = self._turns.get(outcome.turn_key, mono)
            if turn is not None and turn.session_id == sid:
                turn.status = outcome.status
                if not turn.reply_index:
                    turn.reply_index = reply_index
            anchors = self._anchors
            for key in outcome.anchor_keys:
                value = anchors.get(key, mono)
                anchors.put(key, sid if value is None or value == sid else AMBIGUOUS, mono)
            if outcome.response_key:
                self._responses.put(outcome.response_key, ResponsePoint(sid, reply_index or None), mono)
            return reply_index

    def fail_turn(self, session_id: str, turn_key: bytes, now: float) -> None:
        with self._lock:
            turn = self._turns.get(turn_key, time.monotonic())
            if turn is not None and turn.session_id == session_id and turn.status == INFLIGHT:
                turn.status = FAILED

    def get_response(self, response_key: str) -> ResponsePoint | None:
        with self._lock:
            return self._responses.get(response_key, time.monotonic())

    def put_response(self, response_key: str, point: ResponsePoint) -> None:
        with self._lock:
            self._responses.put(response_key, point, time.monotonic())

    def claim_expired(self, inactive_since: float) -> list[str]:
        out: list[str] = []
        mono = time.monotonic()
        with self._lock:
            while self._sessions:
                first = next(iter(self._sessions.values()))
                if first.last_activity >= inactive_since:
                    break
                out.append(self._pop_oldest(mono))
        return out

    def pop_all(self) -> list[str]:
        mono = time.monotonic()
        with self._lock:
            return [self._pop_oldest(mono) for _ in range(len(self._sessions))]

    # --- internals -------------------------------------------------------------------------------------

    def _pop_oldest(self, mono: float) -> str:
        sid, state = self._sessions.popitem(last=False)
        self._closed.put(sid, state.next_index, mono)
        return sid

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        for table in (self._anchors, self._turns, self._responses, self._closed):
            table.clear()
        self._sessions.clear()

    def sizes(self) -> dict[str, int]:
        """How many entries each map holds (for tests and the memory benchmark)."""
        with self._lock:
            return {
                "sessions": len(self._sessions),
                "anchors": len(self._anchors),
                "turns": len(self._turns),
                "responses": len(self._responses),
                "closed": len(self._closed),
            }
