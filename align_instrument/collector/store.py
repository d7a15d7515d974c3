"""SQLite storage of what the collector receives, and the model Align shows derived from it.

- Every accepted request is written in one transaction (WAL journal): a crash or kill never
  leaves half a batch. A request whose ``requestId`` was already stored, and any event whose
  ``id`` was already stored, are not stored again.
- Raw events are kept as received (their proto3 JSON form), in arrival order.
- The derived model copes with any arrival order: sessions are created by whichever of their
  events comes first, messages are keyed by (session, index), feedback is joined to its message
  when read, and users are re-derived from all their identify events, latest ``createTime`` last.

One connection writes, under a lock (SQLite has one writer anyway); readers take connections
from a small pool, so pages and tests read while a batch is being written.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import events as ev
from .validation import CheckedEvent

SCHEMA_VERSION = 2  # PRAGMA user_version: lets a later version migrate or refuse a database
LIVE_WINDOW_SECONDS = 30 * 60  # Align closes a session after 30 minutes without activity
_READER_POOL_SIZE = 8
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


def _encode_raw(doc: dict[str, Any]) -> str:
    if _c_encode is not None:
        return "".join(_c_encode(doc, 0))
    return _RAW_ENCODER.encode(doc)  # pragma: no cover - Pythons without the C accelerator


_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit

_SCHEMA = """
-- Each accepted request's body is kept once, as JSON; an event row points into it (request,
-- position). Writing one text per request is much cheaper than encoding one per event.
CREATE TABLE IF NOT EXISTS requests (
    request_row INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    encoding TEXT NOT NULL,
    event_count INTEGER NOT NULL,
    stored_count INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,  -- rowid: increasing, rows are never deleted (no AUTOINCREMENT cost)
    id TEXT NOT NULL UNIQUE,
    request_row INTEGER NOT NULL,
    position INTEGER NOT NULL,
    type TEXT NOT NULL,
    session_id TEXT,
    user_id TEXT,
    create_time REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT,
    assistant_id TEXT,
    title TEXT,
    custom_properties TEXT,
    start_time REAL,
    open_time REAL,
    close_time REAL,
    first_activity REAL NOT NULL,
    last_activity REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL,
    message_index INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    custom_properties TEXT,
    create_time REAL NOT NULL,
    event_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_index ON messages (session_id, message_index);
CREATE TABLE IF NOT EXISTS feedback (
    event_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    target TEXT NOT NULL,
    message_index INTEGER,
    type TEXT NOT NULL,
    create_time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_session ON feedback (session_id, message_index);
CREATE TABLE IF NOT EXISTS identities (
    event_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    create_time REAL NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_by_user ON identities (user_id, create_time);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    display_name TEXT,
    email TEXT,
    ip TEXT,
    country_code TEXT,
    state TEXT,
    city TEXT,
    create_time REAL,
    custom_properties TEXT,
    last_identified REAL
);
"""

# The user fields an identify sets; the latest identify that sets a field wins for that field.
_USER_FIELDS = ("display_name", "email", "ip", "country_code", "state", "city", "create_time")


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
    """

    messages: tuple[Message, ...] = ()
    session_feedback: tuple[Feedback, ...] = ()
    unmatched_feedback: tuple[Feedback, ...] = ()


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


class Store:
    """The collector's SQLite database.

    Args:
        path: the database file; created with its tables when missing.
        busy_timeout: seconds to wait for another process's lock on the database.

    Raises:
        ValueError: the database was written by a newer version (a later schema).

    Example:
        >>> store = Store("align.db")
        >>> [s.session_id for s in store.sessions(user_id="u-1")]
        ['s-2', 's-1']
        >>> store.close()
    """

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        version = self._writer.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._writer.close()
            raise ValueError(
                f"{self.path} was written by a newer align-instrument (schema {version}, this one reads"
                f" {SCHEMA_VERSION}); upgrade align-instrument or use another --db"
            )
        self._writer.executescript(_SCHEMA)
        self._writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a process crash in WAL mode; only an OS crash may lose the
        # last transactions, never leave half of one.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    def close(self) -> None:
        """Close every connection. The store cannot be used afterwards.

        Example:
            >>> store.close()
        """
        self._closed = True
        with self._write_lock:
            self._writer.close()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            if self._closed or self._readers.qsize() >= _READER_POOL_SIZE:
                conn.close()
            else:
                self._readers.put(conn)

    # --- writing ---------------------------------------------------------------------------------------

    def ingest(
        self,
        request_id: str,
        events: Sequence[CheckedEvent],
        encoding: str = "json",
        body: str | None = None,
    ) -> IngestResult:
        """Store one accepted request in one transaction, skipping what was already stored.

        Args:
            request_id: the request's ``requestId`` (the idempotency key of a batch).
            events: its checked events, in the order received.
            encoding: ``"json"`` or ``"proto"``, kept for the record.
            body: the request as received, as JSON text whose ``events`` array holds ``events`` in
                the same order (the server passes the decompressed JSON body); when None, it is
                built from the events' ``raw`` forms.

        Returns:
            How many events were stored and how many were duplicates.

        Example:
            >>> request = check_request(json.loads(body))
            >>> store.ingest(request.request_id, request.events).stored
            3
        """
        received_at = time.time()
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                seen = conn.execute("SELECT 1 FROM requests WHERE request_id = ?", (request_id,)).fetchone()
                if seen is not None:
                    conn.execute("ROLLBACK")
                    return IngestResult(0, len(events), True)
                fresh = self._fresh_events(conn, events)
                if body is None:
                    body = _encode_raw({"requestId": request_id, "events": [e.raw for e in events]})
                cursor = conn.execute(
                    "INSERT INTO requests"
                    " (request_id, received_at, encoding, event_count, stored_count, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (request_id, received_at, encoding, len(events), len(fresh), body),
                )
                request_row = cursor.lastrowid
                self._write(conn, request_row, fresh, received_at)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return IngestResult(len(fresh), len(events) - len(fresh), False)

    @staticmethod
    def _fresh_events(
        conn: sqlite3.Connection, events: Sequence[CheckedEvent]
    ) -> list[tuple[int, CheckedEvent]]:
        """The events not stored yet, with their position in the request."""
        ids = [e.id for e in events]
        stored: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            stored.update(
                row[0] for row in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk)
            )
        fresh = []
        for position, event in enumerate(events):
            if event.id not in stored:
                stored.add(event.id)  # the same id twice in one request is stored once
                fresh.append((position, event))
        return fresh

    def _write(
        self,
        conn: sqlite3.Connection,
        request_row: int | None,
        positioned: list[tuple[int, CheckedEvent]],
        received_at: float,
    ) -> None:
        conn.executemany(
            "INSERT INTO events (id, request_row, position, type, session_id, user_id, create_time)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (e.id, request_row, pos, e.type, e.session_id, e.user_id, e.create_time)
                for pos, e in positioned
            ],
        )
        events = [e for _, e in positioned]
        messages = []
        feedback = []
        activity: dict[str, tuple[float, float]] = {}
        opens: list[tuple[CheckedEvent, float]] = []
        closes: dict[str, float] = {}
        identified: set[str] = set()
        seen_users: set[str] = set()
        for e in events:
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
                feedback.append(
                    (e.id, e.session_id, e.feedback_target, e.message_index, e.feedback_type, when)
                )
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
        if messages:
            # An index sent twice (two different event ids): the later createTime wins.
            conn.executemany(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (session_id, message_index) DO UPDATE SET role = excluded.role,"
                " content = excluded.content, custom_properties = excluded.custom_properties,"
                " create_time = excluded.create_time, event_id = excluded.event_id"
                " WHERE excluded.create_time >= messages.create_time",
                messages,
            )
        if feedback:
            conn.executemany("INSERT OR IGNORE INTO feedback VALUES (?, ?, ?, ?, ?, ?)", feedback)
        if seen_users:
            conn.executemany("INSERT OR IGNORE INTO users (user_id) VALUES (?)", [(u,) for u in seen_users])
        for user_id in identified:
            self._derive_user(conn, user_id)

    @staticmethod
    def _derive_user(conn: sqlite3.Connection, user_id: str) -> None:
        """Fold all identify events of a user, oldest first, so that arrival order does not matter."""
        merged: dict[str, Any] = dict.fromkeys(_USER_FIELDS)
        props: dict[str, str] = {}
        last = None
        rows = conn.execute(
            "SELECT fields, create_time FROM identities WHERE user_id = ? ORDER BY create_time, rowid",
            (user_id,),
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

    # --- reading ---------------------------------------------------------------------------------------

    def sessions(
        self, user_id: str | None = None, feedback: str | None = None, limit: int | None = None
    ) -> list[SessionSummary]:
        """Sessions, newest first (by start time, else first activity).

        Args:
            user_id: only this user's sessions.
            feedback: ``"thumbs_up"`` / ``"thumbs_down"``: only sessions with such feedback;
                ``"any"``: with any feedback; ``"none"``: without feedback.
            limit: at most this many.

        Raises:
            ValueError: ``feedback`` is not one of the values above.

        Example:
            >>> store.sessions(user_id="u-1", feedback="thumbs_down")
        """
        where = []
        params: list[Any] = []
        if user_id is not None:
            where.append("s.user_id = ?")
            params.append(user_id)
        if feedback in ev.FEEDBACK_TYPES:
            where.append("f.n_up > 0" if feedback == ev.FEEDBACK_THUMBS_UP else "f.n_down > 0")
        elif feedback == "any":
            where.append("coalesce(f.n_up, 0) + coalesce(f.n_down, 0) > 0")
        elif feedback == "none":
            where.append("coalesce(f.n_up, 0) + coalesce(f.n_down, 0) = 0")
        elif feedback is not None:
            raise ValueError("feedback must be 'thumbs_up', 'thumbs_down', 'any', 'none' or None")
        sql = _SESSION_QUERY
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY coalesce(s.start_time, s.first_activity) DESC, s.session_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._reader() as conn:
            return [_summary(row) for row in conn.execute(sql, params)]

    def session(self, session_id: str) -> SessionDetail | None:
        """One session with its messages (ordered by index) and feedback; None when unknown.

        Args:
            session_id: the session's id.

        Example:
            >>> [m.content for m in store.session("s-1").messages]
            ['Hi!', 'Hello, how can I help?']
        """
        with self._reader() as conn:
            conn.execute("BEGIN")  # one snapshot for the three queries
            try:
                row = conn.execute(_SESSION_QUERY + " WHERE s.session_id = ?", (session_id,)).fetchone()
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
            finally:
                conn.execute("COMMIT")
        by_index: dict[int, list[Feedback]] = {}
        session_feedback = []
        for f in (Feedback(*r) for r in feedback_rows):
            if f.target == "session" or f.message_index is None:
                session_feedback.append(f)
            else:
                by_index.setdefault(f.message_index, []).append(f)
        messages = []
        for sid, index, role, content, props, when, event_id in message_rows:
            messages.append(
                Message(
                    sid,
                    index,
                    role,
                    content,
                    _load_props(props),
                    when,
                    event_id,
                    tuple(by_index.pop(index, ())),
                )
            )
        unmatched = tuple(f for items in by_index.values() for f in items)
        summary = _summary(row)
        return SessionDetail(
            **{name: getattr(summary, name) for name in SessionSummary.__dataclass_fields__},
            messages=tuple(messages),
            session_feedback=tuple(session_feedback),
            unmatched_feedback=unmatched,
        )

    def users(self) -> list[User]:
        """Every user identified or seen in a session, most recently active first.

        Example:
            >>> [u.user_id for u in store.users()]
            ['u-1']
        """
        with self._reader() as conn:
            return [_user(row) for row in conn.execute(_USER_QUERY + " ORDER BY last_seen DESC, u.user_id")]

    def user(self, user_id: str) -> User | None:
        """One user; None when neither identified nor seen in a session.

        Args:
            user_id: the user's id.

        Example:
            >>> store.user("u-1").display_name
            'Ada'
        """
        with self._reader() as conn:
            row = conn.execute(_USER_QUERY + " WHERE u.user_id = ?", (user_id,)).fetchone()
        return None if row is None else _user(row)

    def events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Raw events as received (proto3 JSON form), in arrival order.

        Args:
            limit: at most this many (the oldest).

        Example:
            >>> store.events()[0]["type"]
            'user_recognize'
        """
        return list(self.iter_events(limit))

    def iter_events(self, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Like :meth:`events`, without holding them all in memory (for export).

        Args:
            limit: at most this many (the oldest).

        Example:
            >>> next(store.iter_events())["id"]
            'c1dc3f69201311811'
        """
        for raw in self.iter_raw_events(limit):
            yield json.loads(raw)

    def iter_raw_events(self, limit: int | None = None) -> Iterator[str]:
        """The JSON text of each stored event, in arrival order (what ``export`` prints).

        Args:
            limit: at most this many (the oldest).

        Example:
            >>> for line in store.iter_raw_events():
            ...     print(line)
        """
        sql = "SELECT request_row, position FROM events ORDER BY seq"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (int(limit),)
        loaded_row: int | None = None
        request_events: list[dict[str, Any]] = []
        with self._reader() as conn:
            rows = conn.execute(sql, params).fetchall()
            for request_row, position in rows:
                if request_row != loaded_row:  # events of one request are consecutive
                    body = conn.execute(
                        "SELECT body FROM requests WHERE request_row = ?", (request_row,)
                    ).fetchone()
                    request_events = json.loads(body[0])["events"]
                    loaded_row = request_row
                yield _encode_raw(request_events[position])

    def event_count(self) -> int:
        """How many events are stored.

        Example:
            >>> store.event_count()
            9
        """
        with self._reader() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def request_count(self) -> int:
        """How many requests were accepted and stored (a re-sent ``requestId`` counts once).

        Example:
            >>> store.request_count()
            1
        """
        with self._reader() as conn:
            return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


_SESSION_QUERY = """
SELECT s.session_id, s.user_id, s.assistant_id, s.title, s.custom_properties, s.start_time, s.close_time,
       s.first_activity, s.last_activity,
       (SELECT count(*) FROM messages m WHERE m.session_id = s.session_id),
       coalesce(f.n_up, 0), coalesce(f.n_down, 0)
FROM sessions s
LEFT JOIN (
    SELECT session_id, sum(type = 'thumbs_up') AS n_up, sum(type = 'thumbs_down') AS n_down
    FROM feedback GROUP BY session_id
) f ON f.session_id = s.session_id
"""

_USER_QUERY = """
SELECT u.user_id, u.display_name, u.email, u.ip, u.country_code, u.state, u.city, u.create_time,
       u.custom_properties, u.last_identified,
       (SELECT count(*) FROM sessions s WHERE s.user_id = u.user_id) AS session_count,
       max(coalesce(u.last_identified, 0),
           coalesce((SELECT max(last_activity) FROM sessions s WHERE s.user_id = u.user_id), 0)) AS last_seen
FROM users u
"""


def _summary(row: Sequence[Any]) -> SessionSummary:
    (sid, user_id, assistant_id, title, props, start, close, first, last, count, up, down) = row
    return SessionSummary(
        sid, user_id, assistant_id, title, _load_props(props), start, close, first, last, count, up, down
    )


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
        _load_props(props),
        last_identified,
        session_count,
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


def _load_props(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    loaded: dict[str, str] = json.loads(text)
    return loaded
