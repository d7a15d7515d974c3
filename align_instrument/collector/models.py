"""What the collector's store returns: sessions, messages, feedback, users, search hits.

Times are POSIX seconds (UTC).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

LIVE_WINDOW_SECONDS = 30 * 60  # Align closes a session after 30 minutes without activity


@dataclass(frozen=True)
class IngestResult:
    """What :meth:`Store.ingest` did with one request.

    Attributes:
        stored: events written.
        duplicate_events: events skipped because their id was already stored (or repeated).
        duplicate_request: the whole request was skipped: its ``requestId`` was already stored.
    """

    stored: int
    duplicate_events: int
    duplicate_request: bool


@dataclass(frozen=True)
class Feedback:
    """Thumbs up/down on a message (``target == "message"``) or on a whole session.

    Attributes:
        event_id: the ``feedback_create`` event's id.
        session_id: the session it belongs to.
        target: ``"message"`` or ``"session"``.
        message_index: the targeted message's index; None for session feedback.
        type: ``"thumbs_up"`` or ``"thumbs_down"``.
        create_time: POSIX seconds (UTC).
    """

    event_id: str
    session_id: str
    target: str
    message_index: int | None
    type: str
    create_time: float


@dataclass(frozen=True)
class Message:
    """One message of a transcript, with the feedback that targets it.

    Attributes:
        session_id: its session.
        index: its ``messageIndexHint``; orders the transcript.
        role: ``"user"`` or ``"assistant"``.
        content: the text.
        custom_properties: its custom properties (empty when none).
        create_time: POSIX seconds (UTC): ``messageCreateTime``, else the event's ``createTime``.
        event_id: the ``message_create`` event's id.
        feedback: the feedback that targets this message, oldest first.
    """

    session_id: str
    index: int
    role: str
    content: str
    custom_properties: dict[str, str]
    create_time: float
    event_id: str
    feedback: tuple[Feedback, ...] = ()


@dataclass(frozen=True)
class SessionSummary:
    """A session as listed: who, which assistant, how many messages, feedback counts, state.

    ``user_id`` and ``assistant_id`` are None until the session's ``session_open`` arrives.
    Times are POSIX seconds (UTC) taken from the events' ``createTime``.

    Attributes:
        session_id: the session's id.
        user_id: from ``session_open``.
        assistant_id: from ``session_open``.
        title: ``sessionTitle``, when sent.
        custom_properties: from ``session_open`` (empty when none).
        start_time: ``sessionStartTime``, else the ``session_open`` event's time.
        close_time: the ``session_close`` event's time; None while open.
        first_activity: the earliest event of the session.
        last_activity: the latest event of the session.
        message_count: messages received.
        thumbs_up: feedback of type ``thumbs_up``, on the session or its messages.
        thumbs_down: feedback of type ``thumbs_down``, on the session or its messages.
        preview: the start of its first user message (by index); None before one arrives.
        conflict_count: messages received again for an index already stored, with other content
            (the first version is kept; see :class:`MessageConflict`).
    """

    session_id: str
    user_id: str | None
    assistant_id: str | None
    title: str | None
    custom_properties: dict[str, str]
    start_time: float | None
    close_time: float | None
    first_activity: float
    last_activity: float
    message_count: int
    thumbs_up: int
    thumbs_down: int
    preview: str | None = None
    conflict_count: int = 0

    @property
    def closed(self) -> bool:
        """A ``session_close`` was received."""
        return self.close_time is not None

    def status(self, now: float | None = None) -> str:
        """``"closed"``, ``"live"`` (activity in the last 30 minutes) or ``"idle"``.

        Args:
            now: the current POSIX time; ``time.time()`` when None.

        Example:
            >>> store.session("s-1").status()
            'live'
        """
        if self.closed:
            return "closed"
        now = time.time() if now is None else now
        return "live" if now - self.last_activity < LIVE_WINDOW_SECONDS else "idle"


@dataclass(frozen=True)
class SessionDetail(SessionSummary):
    """A session with its transcript (ordered by message index) and its feedback.

    ``session_feedback`` targets the whole session; ``unmatched_feedback`` targets a message
    index that has not arrived (yet).

    Attributes:
        messages: the transcript, ordered by message index.
        session_feedback: feedback on the whole session, oldest first.
        unmatched_feedback: feedback on a message index not received (yet).
        conflicts: versions of its messages received after the kept one, with other content.
    """

    messages: tuple[Message, ...] = ()
    session_feedback: tuple[Feedback, ...] = ()
    unmatched_feedback: tuple[Feedback, ...] = ()
    conflicts: tuple[MessageConflict, ...] = ()


@dataclass(frozen=True)
class User:
    """A user: from ``user_recognize`` events (latest wins per field) or only seen in a session.

    Attributes:
        user_id: the user's id.
        display_name, email, ip, country_code, state, city: from the identify events.
        create_time: ``userCreateTime``, POSIX seconds.
        custom_properties: merged over the identify events, later keys win.
        last_identified: time of the latest identify; None when never identified.
        session_count: sessions opened for this user.
    """

    user_id: str
    display_name: str | None
    email: str | None
    ip: str | None
    country_code: str | None
    state: str | None
    city: str | None
    create_time: float | None
    custom_properties: dict[str, str]
    last_identified: float | None
    session_count: int

    @property
    def location(self) -> str | None:
        """The country code when known (it overrides the ip, as in Align), else the ip."""
        if self.country_code:
            return ", ".join(p for p in (self.city, self.state, self.country_code) if p)
        return f"ip {self.ip}" if self.ip else None


@dataclass(frozen=True)
class MessageConflict:
    """A message received for a (session, index) already stored, with other role or content.

    The first version received is kept (two apps reusing a session id would otherwise overwrite
    each other's transcript); this is the one that was not.

    Attributes:
        event_id: the refused version's ``message_create`` event id.
        session_id: its session.
        index: the message index both versions claim.
        role: the refused version's role.
        content: the refused version's text.
        create_time: its ``messageCreateTime`` (else the event's ``createTime``).
        received_at: when the collector received it.
    """

    event_id: str
    session_id: str
    index: int
    role: str
    content: str
    create_time: float
    received_at: float


@dataclass(frozen=True)
class SearchHit:
    """A message that matches a search, with a snippet of its text.

    Attributes:
        session_id: the message's session.
        index: the message's index (``/sessions/<id>#m<index>`` shows it).
        role: ``"user"`` or ``"assistant"``.
        create_time: the message's time.
        snippet: the matching part of the text; matched terms are wrapped in
            :data:`MARK_START` / :data:`MARK_END` (control characters, never in escaped HTML).
        user_id: the session's user, when known.
    """

    session_id: str
    index: int
    role: str
    create_time: float
    snippet: str
    user_id: str | None


@dataclass(frozen=True)
class SearchResults:
    """One page of search results.

    Attributes:
        hits: the best matches first.
        total: how many messages match (at most 100,000 are counted).
        more: more than ``total`` messages match.
        ranked_among: when set, only the newest this-many matches were ranked (a very common word).
    """

    hits: list[SearchHit]
    total: int
    more: bool
    ranked_among: int | None


MARK_START = "\x02"
MARK_END = "\x03"
