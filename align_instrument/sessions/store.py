"""The session store interface: the few atomic operations the engine needs, and their data.

The engine computes, per request, a :class:`TurnPlan` (pure hashing, see
:mod:`~align_instrument.sessions.resolution`); a store applies it atomically in one operation
before the provider call (:meth:`SessionStore.begin_turn`) and records the reply in one operation
after it (:meth:`SessionStore.end_turn`). One operation each, so that a shared store (Redis) costs
one round trip before the call and one after, and two processes serving the same conversation
can never take the same index.

What a store keeps, every entry bounded by count and by age:

- anchors: key derived from a captured model output (alone, after the user message that preceded
  it, after the previous output) -> the session it was captured in, or :data:`AMBIGUOUS` when two
  sessions produced it;
- turns: key of "this output + the items after it" -> (session, reply index, status), so that the
  same request again is a retry or a regeneration, never a second copy of the user's message;
- sessions: id -> (user, next free index, last activity); closed ones remember their next index
  so that a session resumed by id never reuses an index;
- responses: provider response id / LangChain run id -> the session and the index of its reply.

The semantics of :meth:`SessionStore.begin_turn` are spelt out once, in
:class:`~align_instrument.sessions.memory_store.InMemorySessionStore`; other stores must match
them exactly (the shared-store tests run the same scenarios against both).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

AMBIGUOUS = "\x00ambiguous"
"""Anchor value of an output captured in more than one session (never a valid session id)."""

# Turn statuses
INFLIGHT = 1
"""The provider call is running (or its process died)."""
FAILED = 2
"""The call raised: a retry of the same request continues the turn without logging it again."""
DONE = 3
"""The reply was complete: the same request again is a regeneration."""
INCOMPLETE = 4
"""The reply was cut short (logged, marked ``incomplete``): the same request again is a retry,
logged as a regeneration of the incomplete variant."""


class MessageRef(NamedTuple):
    """Where a captured message was logged: feed it to ``create_message_feedback``.

    Attributes:
        session_id: the Align session the message was logged in.
        message_index: its index in that session.
    """

    session_id: str
    message_index: int


class ResponsePoint(NamedTuple):
    """A provider response (or run) we captured: its session and the index of its logged reply
    (None when the reply had no text, e.g. only tool calls)."""

    session_id: str
    message_index: int | None


class Anchor(NamedTuple):
    """One model output of a request that the request may continue from.

    Attributes:
        keys: the output's anchor keys, strongest evidence first (with the previous output, with
            the user message before it, alone).
        turn_key: identifies "this output and the items after it": the same request again.
        new_count: how many loggable messages come after the output (the new turn).
    """

    keys: tuple[bytes, ...]
    turn_key: bytes
    new_count: int


class TurnPlan(NamedTuple):
    """What the engine asks of the store before a provider call.

    Attributes:
        anchors: the request's newest model outputs, newest first (at most a few).
        opening_key: the turn key when no anchor is known (the items after the newest output, or
            the whole request when it has no output).
        opening_count: loggable messages after the newest output (all of them when there is none).
        history_count: loggable messages in the whole request.
        session_id: an explicit session (scope, Responses ``conversation``, LangChain metadata).
        response_key: a ``previous_response_id`` whose session this call continues.
        new_session_id: the id to use if a session is created.
        user_id: the user of a created session.
        regenerate_first: the same opening request again may be a regeneration (the user is known);
            otherwise only a failed or cut-short one is retried (two anonymous users saying "Hi"
            must not share a session).
    """

    anchors: tuple[Anchor, ...]
    opening_key: bytes
    opening_count: int
    history_count: int
    session_id: str | None
    response_key: str | None
    new_session_id: str
    user_id: str
    regenerate_first: bool


class TurnClaim(NamedTuple):
    """The store's answer to a :class:`TurnPlan`.

    Attributes:
        session_id: the session the turn belongs to.
        user_id: that session's user.
        anchor: index in ``plan.anchors`` of the output continued, or -1.
        first_index: index of the first message to log (the claimed range has the plan's count).
        log: what to log: ``"new"`` (the items after the anchor, or after the newest output),
            ``"history"`` (every loggable item: a session created from a history we never saw) or
            ``"none"`` (a retry or a regeneration: the turn was logged already).
        opened: this call created (or reopened) the session: send ``open_session`` first.
        continues: a closed session this new one continues (sent as a session property), or "".
        regenerates: the reply index this turn regenerates, or 0.
        ambiguous: the newest known output was captured in several sessions (a new one was opened).
        evicted: sessions dropped to stay within capacity (the engine closes them).
    """

    session_id: str
    user_id: str
    anchor: int
    first_index: int
    log: str
    opened: bool
    continues: str
    regenerates: int
    ambiguous: bool
    evicted: tuple[str, ...]


class TurnOutcome(NamedTuple):
    """What the engine records after a provider call.

    Attributes:
        session_id, turn_key: from the claim and the plan.
        has_text: the reply has text to log (it takes the session's next index).
        status: :data:`DONE` or :data:`INCOMPLETE`.
        anchor_keys: keys of the reply's outputs (and the other choices'), to register.
        response_key: the provider's response id to map to the reply, or None.
    """

    session_id: str
    turn_key: bytes
    has_text: bool
    status: int
    anchor_keys: tuple[bytes, ...]
    response_key: str | None


class SessionStore(Protocol):
    """The interface the :class:`~align_instrument.sessions.engine.SessionEngine` needs.

    Attributes:
        shared: True when the state outlives this process (other processes use it): the engine
            then never closes sessions at exit, and closes idle ones only through
            :meth:`claim_expired`.
    """

    shared: bool

    def begin_turn(self, plan: TurnPlan, now: float) -> TurnClaim:
        """Resolve the session of a request and claim the indexes of its new messages, atomically."""
        ...

    def end_turn(self, outcome: TurnOutcome, now: float) -> int:
        """Record a reply: claim its index (0 when it has no text), register its anchors (an anchor
        already held by another session becomes :data:`AMBIGUOUS`), update the turn's status and
        the session's activity. Returns the reply's index (0 when it has no text)."""
        ...

    def fail_turn(self, session_id: str, turn_key: bytes, now: float) -> None:
        """The provider call raised: a retry of the same request continues the turn."""
        ...

    def get_response(self, response_key: str) -> ResponsePoint | None:
        """The point recorded for a response id / run id, or None."""
        ...

    def put_response(self, response_key: str, point: ResponsePoint) -> None:
        """Map another key (a LangChain run id) to a logged message."""
        ...

    def claim_expired(self, inactive_since: float) -> list[str]:
        """Stop tracking the sessions idle since before ``inactive_since`` and return them; each
        is returned to exactly one caller (the one that sends its ``close_session``)."""
        ...

    def pop_all(self) -> list[str]:
        """At shutdown of a process-local store: stop tracking and return every active session.
        A shared store returns [] (other processes go on with them)."""
        ...
