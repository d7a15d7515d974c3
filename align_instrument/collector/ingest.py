"""Writing one accepted request into the store's tables, and deriving the model from it.

- Raw events are kept as received (the request body once, events pointing into it).
- The derived model copes with any arrival order: sessions are created by whichever of their
  events comes first, messages are keyed by (session, index), feedback is joined to its message
  when read, and users are re-derived from all their identify events, latest ``createTime`` last.
- A (session, index) received again with other content keeps the first version; the other is
  recorded in ``message_conflicts``, counted on the session and logged once per (session, index).
- The per-session counters, the preview and the rollups (:mod:`.rollups`) are updated here, for
  the messages actually inserted.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .. import events as ev
from . import rollups
from .models import IngestResult
from .schema import PREVIEW_CHARS
from .validation import CheckedEvent

logger = logging.getLogger("align_instrument.collector")

_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit
# The user fields an identify sets; the latest identify that sets a field wins for that field.
_USER_FIELDS = ("display_name", "email", "ip", "country_code", "state", "city", "create_time")
# One encoder, built once: json.dumps() with non-default options builds a new one per call.
_RAW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)


def _unserializable(value: object) -> None:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# CPython: the C encoder called directly, without JSONEncoder's set-up on every call.
_c_encode = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None, _unserializable, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


def encode_raw(doc: dict[str, Any]) -> str:
    """Compact JSON text of an event or request, as stored."""
    if _c_encode is not None:
        return "".join(_c_encode(doc, 0))
    return _RAW_ENCODER.encode(doc)  # pragma: no cover - Pythons without the C accelerator


def write_request(
    conn: sqlite3.Connection,
    request_id: str,
    events: Sequence[CheckedEvent],
    encoding: str,
    body: str | None,
    received_at: float,
) -> IngestResult:
    """Store one request in one transaction on ``conn`` (the writer, held under its lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        seen = conn.execute("SELECT 1 FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        if seen is not None:
            conn.execute("ROLLBACK")
            return IngestResult(0, len(events), True)
        fresh = _fresh_events(conn, events)
        if body is None:
            body = encode_raw({"requestId": request_id, "events": [e.raw for e in events]})
        cursor = conn.execute(
            "INSERT INTO requests (request_id, received_at, encoding, event_count, stored_count, body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (request_id, received_at, encoding, len(events), len(fresh), body),
        )
        conflicts = _write(conn, cursor.lastrowid, fresh, received_at)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for session_id, index, event_id in conflicts:  # after COMMIT: only what was stored is logged
        logger.warning(
            "collector: session %r message #%d received again with other content (event %s);"
            " kept the first version, the session page shows both",
            session_id,
            index,
            event_id,
        )
    return IngestResult(len(fresh), len(events) - len(fresh), False)


def _fresh_events(conn: sqlite3.Connection, events: Sequence[CheckedEvent]) -> list[tuple[int, CheckedEvent]]:
    """The events not stored yet, with their position in the request."""
    ids = [e.id for e in events]
    stored: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        stored.update(row[0] for row in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk))
    fresh = []
    for position, event in enumerate(events):
        if event.id not in stored:
            stored.add(event.id)  # the same id twice in one request is stored once
            fresh.append((position, event))
    return fresh


def _write(
    conn: sqlite3.Connection,
    request_row: int | None,
    positioned: list[tuple[int, CheckedEvent]],
    received_at: float,
) -> list[tuple[str, int, str]]:
    """Write the fresh events; returns the newly conflicting (session, index, event id) to log."""
    conn.executemany(
        "INSERT INTO events (id, request_row, position, type, session_id, user_id, create_time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(e.id, request_row, pos, e.type, e.session_id, e.user_id, e.create_time) for pos, e in positioned],
    )
    messages: list[Any] = []
    feedback = []
    activity: dict[str, tuple[float, float]] = {}
    opens: list[tuple[CheckedEvent, float]] = []
    closes: dict[str, float] = {}
    identified: set[str] = set()
    seen_users: set[str] = set()
    for _, e in positioned:
        when = received_at if e.create_time is None else e.create_time
        kind = e.type
        if kind == ev.MESSAGE_CREATE:
            messages.append(
                (
                    e.session_id,
                    e.message_index,
                    e.role,
                    e.content,
                    _dump_props(e.custom_properties),
                    e.message_create_time if e.message_create_time is not None else when,
                    e.id,
                )
            )
        elif kind == ev.FEEDBACK_CREATE:
            feedback.append((e.id, e.session_id, e.feedback_target, e.message_index, e.feedback_type, when))
        elif kind == ev.SESSION_OPEN:
            opens.append((e, when))
            if e.user_id:
                seen_users.add(e.user_id)
        elif kind == ev.SESSION_CLOSE:
            assert e.session_id is not None
            closes[e.session_id] = max(when, closes.get(e.session_id, when))
        elif kind == ev.USER_RECOGNIZE:
            assert e.user_id is not None
            conn.execute(
                "INSERT INTO identities VALUES (?, ?, ?, ?)",
                (e.id, e.user_id, when, json.dumps(_identity_fields(e))),
            )
            identified.add(e.user_id)
        if e.session_id is not None:
            first, last = activity.get(e.session_id, (when, when))
            activity[e.session_id] = (min(first, when), max(last, when))
    before = rollups.snapshot(conn, activity)
    if activity:
        conn.executemany(
            "INSERT INTO sessions (session_id, first_activity, last_activity) VALUES (?, ?, ?)"
            " ON CONFLICT (session_id) DO UPDATE SET"
            " first_activity = min(first_activity, excluded.first_activity),"
            " last_activity = max(last_activity, excluded.last_activity)",
            [(sid, first, last) for sid, (first, last) in activity.items()],
        )
    for event, when in opens:
        # The latest session_open (by createTime) decides the session's attributes.
        conn.execute(
            "UPDATE sessions SET user_id = ?, assistant_id = ?, title = ?, custom_properties = ?,"
            " start_time = ?, open_time = ?"
            " WHERE session_id = ? AND (open_time IS NULL OR open_time <= ?)",
            (
                event.user_id,
                event.assistant_id,
                event.session_title,
                _dump_props(event.custom_properties),
                event.session_start_time if event.session_start_time is not None else when,
                when,
                event.session_id,
                when,
            ),
        )
    if closes:
        conn.executemany(
            "UPDATE sessions SET close_time = max(coalesce(close_time, ?), ?) WHERE session_id = ?",
            [(when, when, sid) for sid, when in closes.items()],
        )
    conflicts: list[tuple[str, int, str]] = []
    if messages:
        conflicts = _write_messages(conn, messages, received_at)
    if feedback:
        conn.executemany("INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)", feedback)
        rollups.add_feedback(conn, [(f[5], f[4]) for f in feedback])
        counts = Counter((f[1], f[4]) for f in feedback)
        conn.executemany(
            "UPDATE sessions SET thumbs_up = thumbs_up + ?, thumbs_down = thumbs_down + ?"
            " WHERE session_id = ?",
            [
                (counts[(sid, ev.FEEDBACK_THUMBS_UP)], counts[(sid, ev.FEEDBACK_THUMBS_DOWN)], sid)
                for sid in {f[1] for f in feedback}
            ],
        )
    rollups.update_sessions(conn, before, rollups.snapshot(conn, activity))
    if seen_users:
        conn.executemany("INSERT OR IGNORE INTO users (user_id) VALUES (?)", [(u,) for u in seen_users])
    for user_id in identified:
        _derive_user(conn, user_id)
    return conflicts


def _write_messages(
    conn: sqlite3.Connection, messages: list[Any], received_at: float
) -> list[tuple[str, int, str]]:
    """Insert messages, keeping the first version of each (session, index); update the counters.

    A row is (session_id, message_index, role, content, custom_properties, create_time, event_id).
    """
    last_rowid = conn.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    conn.executemany(
        "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (session_id, message_index) DO NOTHING",
        messages,
    )
    # Rows are never deleted, so the new rows are those past the previous last rowid.
    count = conn.execute("SELECT count(*) FROM messages WHERE rowid > ?", (last_rowid,)).fetchone()[0]
    inserted = messages
    conflicts: list[tuple[str, int, str]] = []
    if count != len(messages):
        # Rare: an index already stored. Keep the rows that went in; record the others that differ.
        new_ids = {r[0] for r in conn.execute("SELECT event_id FROM messages WHERE rowid > ?", (last_rowid,))}
        inserted = [row for row in messages if row[6] in new_ids]
        for row in messages:
            sid, index, role, content, _, when, event_id = row
            if event_id in new_ids:
                continue
            kept = conn.execute(
                "SELECT role, content FROM messages WHERE session_id = ? AND message_index = ?",
                (sid, index),
            ).fetchone()
            if tuple(kept) != (role, content):
                known = conn.execute(
                    "SELECT 1 FROM message_conflicts WHERE session_id = ? AND message_index = ?", (sid, index)
                ).fetchone()
                conn.execute(
                    "INSERT INTO message_conflicts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (event_id, sid, index, role, content, when, received_at),
                )
                conn.execute(
                    "UPDATE sessions SET conflict_count = conflict_count + 1 WHERE session_id = ?", (sid,)
                )
                if known is None:
                    conflicts.append((sid, index, event_id))
    per_session = Counter(row[0] for row in inserted)
    conn.executemany(
        "UPDATE sessions SET message_count = message_count + ? WHERE session_id = ?",
        [(n, sid) for sid, n in per_session.items()],
    )
    with_user_message = {row[0] for row in inserted if row[2] == ev.ROLE_USER}
    if with_user_message:
        conn.executemany(
            f"UPDATE sessions SET preview = (SELECT substr(m.content, 1, {PREVIEW_CHARS}) FROM messages m"
            " WHERE m.session_id = sessions.session_id AND m.role = 'user' ORDER BY m.message_index LIMIT 1)"
            " WHERE session_id = ?",
            [(sid,) for sid in with_user_message],
        )
    rollups.add_messages(conn, [row[5] for row in inserted])
    return conflicts


def _derive_user(conn: sqlite3.Connection, user_id: str) -> None:
    """Fold all identify events of a user, oldest first, so that arrival order does not matter."""
    merged: dict[str, Any] = dict.fromkeys(_USER_FIELDS)
    props: dict[str, str] = {}
    last = None
    rows = conn.execute(
        "SELECT fields, create_time FROM identities WHERE user_id = ? ORDER BY create_time, rowid", (user_id,)
    )
    for fields_json, when in rows:
        fields = json.loads(fields_json)
        for name in _USER_FIELDS:
            if fields.get(name) is not None:
                merged[name] = fields[name]
        props.update(fields.get("custom_properties") or {})
        last = when
    conn.execute(
        "INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, *(merged[name] for name in _USER_FIELDS), _dump_props(props), last),
    )


def _identity_fields(e: CheckedEvent) -> dict[str, Any]:
    return {
        "display_name": e.display_name,
        "email": e.email,
        "ip": e.ip,
        "country_code": e.country_code,
        "state": e.state,
        "city": e.city,
        "create_time": e.user_create_time,
        "custom_properties": e.custom_properties,
    }


def _dump_props(props: dict[str, str] | None) -> str | None:
    return json.dumps(props, ensure_ascii=False) if props else None
