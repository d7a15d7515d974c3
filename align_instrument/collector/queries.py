"""Reading sessions, transcripts and users from the store's tables.

Lists read the per-session counters kept on ingest (never the messages), and page by keyset:
a page ends at a (sort value, session id) pair and the next starts after it, so any page of any
number of sessions costs one index range scan.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from .. import events as ev
from .models import (
    LIVE_WINDOW_SECONDS,
    Feedback,
    Message,
    MessageConflict,
    SessionDetail,
    SessionSummary,
    User,
)
from .search import fts_query

SORTS = {"last_activity": "s.last_activity", "messages": "s.message_count"}
STATUSES = ("live", "idle", "closed")
FEEDBACK_FILTERS = ("any", "none", ev.FEEDBACK_THUMBS_UP, ev.FEEDBACK_THUMBS_DOWN)

_COLUMNS = (
    "s.session_id, s.user_id, s.assistant_id, s.title, s.custom_properties, s.start_time, s.close_time,"
    " s.first_activity, s.last_activity, s.message_count, s.thumbs_up, s.thumbs_down, s.preview,"
    " s.conflict_count"
)


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a list shows; every field None means all.

    Attributes:
        user_id: only this user's sessions.
        feedback: ``"thumbs_up"`` / ``"thumbs_down"`` (with such feedback), ``"any"`` or ``"none"``.
        status: ``"live"``, ``"idle"`` or ``"closed"`` (see :meth:`SessionSummary.status`).
        since: only sessions active at or after this time (POSIX seconds).
        until: only sessions active at or before this time.
        text: only sessions with a message containing all these words (full-text), or the
            session with this id.
        conflicts_only: only sessions with a message received twice with different content.
    """

    user_id: str | None = None
    feedback: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    conflicts_only: bool = False

    def where(self, now: float) -> tuple[list[str], list[Any]]:
        """SQL conditions on ``sessions s`` and their parameters.

        Raises:
            ValueError: ``feedback`` or ``status`` is not one of the values above.
        """
        where: list[str] = []
        params: list[Any] = []
        if self.user_id is not None:
            where.append("s.user_id = ?")
            params.append(self.user_id)
        if self.feedback == ev.FEEDBACK_THUMBS_UP:
            where.append("s.thumbs_up > 0")
        elif self.feedback == ev.FEEDBACK_THUMBS_DOWN:
            where.append("s.thumbs_down > 0")
        elif self.feedback == "any":
            where.append("s.thumbs_up + s.thumbs_down > 0")
        elif self.feedback == "none":
            where.append("s.thumbs_up + s.thumbs_down = 0")
        elif self.feedback is not None:
            raise ValueError("feedback must be 'thumbs_up', 'thumbs_down', 'any', 'none' or None")
        if self.status == "closed":
            where.append("s.close_time IS NOT NULL")
        elif self.status in ("live", "idle"):
            where.append("s.close_time IS NULL")
            where.append("s.last_activity >= ?" if self.status == "live" else "s.last_activity < ?")
            params.append(now - LIVE_WINDOW_SECONDS)
        elif self.status is not None:
            raise ValueError("status must be 'live', 'idle', 'closed' or None")
        if self.since is not None:
            where.append("s.last_activity >= ?")
            params.append(self.since)
        if self.until is not None:
            where.append("s.first_activity <= ?")
            params.append(self.until)
        if self.conflicts_only:
            where.append("s.conflict_count > 0")
        if self.text:
            match = fts_query(self.text)
            if match:
                where.append(
                    "(s.session_id = ? OR s.session_id IN (SELECT m.session_id FROM messages m"
                    " WHERE m.rowid IN"
                    " (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)))"
                )
                params += [self.text, match]
            else:
                where.append("s.session_id = ?")
                params.append(self.text)
        return where, params


@dataclass(frozen=True)
class SessionPage:
    """One page of a session list.

    Attributes:
        sessions: the page's sessions, in the requested order.
        total: how many sessions match the filter.
        next_cursor: pass as ``after`` for the next page; None on the last page.
        previous_cursor: pass as ``before`` for the previous page; None on the first page.
    """

    sessions: list[SessionSummary]
    total: int
    next_cursor: str | None
    previous_cursor: str | None


def session_page(
    conn: sqlite3.Connection,
    filters: SessionFilter,
    sort: str = "last_activity",
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> SessionPage:
    """A page of sessions after (or before) a cursor; see :meth:`Store.session_page`."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    key = SORTS[sort]
    where, params = filters.where(time.time())
    count_sql = "SELECT count(*) FROM sessions s" + (" WHERE " + " AND ".join(where) if where else "")
    total = int(conn.execute(count_sql, params).fetchone()[0])
    cursor = before if before is not None else after
    backwards = before is not None
    # Walking backwards is walking forwards in the opposite order, then reversing the page.
    newest_first = descending != backwards
    page_where, page_params = list(where), list(params)
    if cursor is not None:
        value, session_id = _parse_cursor(cursor, sort)
        page_where.append(f"({key}, s.session_id) {'<' if newest_first else '>'} (?, ?)")
        page_params += [value, session_id]
    direction = "DESC" if newest_first else "ASC"
    sql = f"SELECT {_COLUMNS} FROM sessions s"
    if page_where:
        sql += " WHERE " + " AND ".join(page_where)
    sql += f" ORDER BY {key} {direction}, s.session_id {direction} LIMIT ?"
    rows = conn.execute(sql, [*page_params, limit + 1]).fetchall()
    more = len(rows) > limit
    sessions = [_summary(row) for row in rows[:limit]]
    if backwards:
        sessions.reverse()
    has_next = more if not backwards else True
    has_previous = (cursor is not None) if not backwards else more
    return SessionPage(
        sessions,
        total,
        _cursor(sessions[-1], sort) if sessions and has_next else None,
        _cursor(sessions[0], sort) if sessions and has_previous else None,
    )


def _cursor(session: SessionSummary, sort: str) -> str:
    value = session.last_activity if sort == "last_activity" else session.message_count
    return f"{value!r}~{session.session_id}"


def _parse_cursor(cursor: str, sort: str) -> tuple[float, str]:
    value, sep, session_id = cursor.partition("~")
    try:
        if not sep:
            raise ValueError
        return (float(value) if sort == "last_activity" else int(value)), session_id
    except ValueError:
        raise ValueError(f"not a page cursor: {cursor!r}") from None


def sessions(conn: sqlite3.Connection, filters: SessionFilter, limit: int | None) -> list[SessionSummary]:
    """Sessions, newest first by start time (else first activity); see :meth:`Store.sessions`."""
    where, params = filters.where(time.time())
    sql = f"SELECT {_COLUMNS} FROM sessions s"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY coalesce(s.start_time, s.first_activity) DESC, s.session_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [_summary(row) for row in conn.execute(sql, params)]


def session_detail(conn: sqlite3.Connection, session_id: str) -> SessionDetail | None:
    """One session with its transcript, feedback and conflicts, read in one snapshot."""
    conn.execute("BEGIN")
    try:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM sessions s WHERE s.session_id = ?", (session_id,)
        ).fetchone()
        if row is None:
            return None
        feedback_rows = conn.execute(
            "SELECT event_id, session_id, target, message_index, type, create_time FROM feedback"
            " WHERE session_id = ? ORDER BY create_time, rowid",
            (session_id,),
        ).fetchall()
        message_rows = conn.execute(
            "SELECT session_id, message_index, role, content, custom_properties, create_time,"
            " event_id FROM messages WHERE session_id = ? ORDER BY message_index",
            (session_id,),
        ).fetchall()
        conflict_rows = conn.execute(
            "SELECT event_id, session_id, message_index, role, content, create_time, received_at"
            " FROM message_conflicts WHERE session_id = ? ORDER BY message_index, received_at",
            (session_id,),
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    by_index: dict[int, list[Feedback]] = {}
    session_feedback = []
    for f in (Feedback(*r) for r in feedback_rows):
        if f.target == "session" or f.message_index is None:
            session_feedback.append(f)
        else:
            by_index.setdefault(f.message_index, []).append(f)
    messages = [
        Message(sid, index, role, content, load_props(props), when, event_id, tuple(by_index.pop(index, ())))
        for sid, index, role, content, props, when, event_id in message_rows
    ]
    unmatched = tuple(f for items in by_index.values() for f in items)
    summary = _summary(row)
    return SessionDetail(
        **{name: getattr(summary, name) for name in SessionSummary.__dataclass_fields__},
        messages=tuple(messages),
        session_feedback=tuple(session_feedback),
        unmatched_feedback=unmatched,
        conflicts=tuple(MessageConflict(*r) for r in conflict_rows),
    )


def users(conn: sqlite3.Connection, user_id: str | None = None) -> list[User]:
    """Every user (most recently active first), or the one with ``user_id``."""
    if user_id is not None:
        return [_user(row) for row in conn.execute(_USER_QUERY + " WHERE u.user_id = ?", (user_id,))]
    return [_user(row) for row in conn.execute(_USER_QUERY + " ORDER BY last_seen DESC, u.user_id")]


_USER_QUERY = """
SELECT u.user_id, u.display_name, u.email, u.ip, u.country_code, u.state, u.city, u.create_time,
       u.custom_properties, u.last_identified,
       (SELECT count(*) FROM sessions s WHERE s.user_id = u.user_id) AS session_count,
       max(coalesce(u.last_identified, 0),
           coalesce((SELECT max(last_activity) FROM sessions s WHERE s.user_id = u.user_id), 0)) AS last_seen
FROM users u
"""


_SUMMARY_FIELDS = tuple(f.name for f in fields(SessionSummary))  # the order of _COLUMNS


def _summary(row: Sequence[Any]) -> SessionSummary:
    values = dict(zip(_SUMMARY_FIELDS, row, strict=True))
    values["custom_properties"] = load_props(values["custom_properties"])
    return SessionSummary(**values)


def _user(row: Sequence[Any]) -> User:
    user_id, name, email, ip, country, state, city, created, props, last_identified, session_count = row[:11]
    return User(
        user_id,
        name,
        email,
        ip,
        country,
        state,
        city,
        created,
        load_props(props),
        last_identified,
        session_count,
    )


def load_props(text: str | None) -> dict[str, str]:
    """Custom properties as stored (JSON object text or NULL)."""
    if not text:
        return {}
    loaded: dict[str, str] = json.loads(text)
    return loaded


def changed_indexes(
    conn: sqlite3.Connection, session_id: str, since: int, most: int = 2000
) -> set[int] | None:
    """Indexes of the session's messages that are new, or got feedback or a conflict, after event
    ``since`` (a :meth:`Store.version`); None when more than ``most`` events arrived (re-read all)."""
    rows = conn.execute(
        "SELECT id, type FROM events WHERE seq > ? AND session_id = ? LIMIT ?", (since, session_id, most + 1)
    ).fetchall()
    if len(rows) > most:
        return None
    ids = [event_id for event_id, kind in rows if kind in (ev.MESSAGE_CREATE, ev.FEEDBACK_CREATE)]
    found: set[int] = set()
    for start in range(0, len(ids), 400):
        chunk = ids[start : start + 400]
        marks = ",".join("?" * len(chunk))
        for sql in (
            f"SELECT message_index FROM messages WHERE session_id = ? AND event_id IN ({marks})",
            f"SELECT message_index FROM feedback WHERE session_id = ? AND event_id IN ({marks})",
            f"SELECT message_index FROM message_conflicts WHERE session_id = ? AND event_id IN ({marks})",
        ):
            found.update(row[0] for row in conn.execute(sql, (session_id, *chunk)) if row[0] is not None)
    return found
