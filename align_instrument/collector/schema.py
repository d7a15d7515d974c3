"""The collector database's tables, its connections, and the migration of older databases.

Schema 3 added, for the web page at any size: per-session counters (messages, thumbs, conflicts)
and the first user message as a preview, kept up to date on ingest so that listing and sorting
never scan the messages; hourly and daily rollups for the overview (:mod:`.rollups`); the FTS5
index of message texts; and the conflicting versions of a (session, index) that were not kept.
A schema-2 database is migrated when opened (columns added, everything derived from what is stored).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import rollups

SCHEMA_VERSION = 3  # PRAGMA user_version: lets a later version migrate or refuse a database
PREVIEW_CHARS = 200  # of the first user message, kept on the session row

# Schema 2, as databases of earlier versions hold it; every statement is idempotent.
_BASE_SCHEMA = """
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

_SESSION_COLUMNS_3 = (
    ("message_count", "INTEGER NOT NULL DEFAULT 0"),
    ("thumbs_up", "INTEGER NOT NULL DEFAULT 0"),
    ("thumbs_down", "INTEGER NOT NULL DEFAULT 0"),
    ("conflict_count", "INTEGER NOT NULL DEFAULT 0"),
    ("preview", "TEXT"),
)

_SCHEMA_3 = """
-- The list pages and sorts: by last activity, by message count, per user (keyset paging).
CREATE INDEX IF NOT EXISTS sessions_by_activity ON sessions (last_activity, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_count ON sessions (message_count, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_user_activity ON sessions (user_id, last_activity, session_id);
-- The overview's scans by start time read this index only.
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions (first_activity, user_id, message_count);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback (create_time);
-- A (session, index) received again with other content: the version not kept.
CREATE TABLE IF NOT EXISTS message_conflicts (
    event_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    message_index INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    create_time REAL NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS message_conflicts_by_session ON message_conflicts (session_id, message_index);
-- Full-text search over message texts; the rows live in messages (external content). Messages
-- are never updated or deleted (the first version of an index is kept), so the index only ever
-- gains the rows past search_state.indexed_rowid (see search.index_pending).
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    content, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS search_state (
    one INTEGER PRIMARY KEY CHECK (one = 1), indexed_rowid INTEGER NOT NULL
);
INSERT OR IGNORE INTO search_state VALUES (1, 0);
"""

_BACKFILL_3 = f"""
UPDATE sessions SET
    message_count = (SELECT count(*) FROM messages m WHERE m.session_id = sessions.session_id),
    thumbs_up = (SELECT count(*) FROM feedback f
                 WHERE f.session_id = sessions.session_id AND f.type = 'thumbs_up'),
    thumbs_down = (SELECT count(*) FROM feedback f
                   WHERE f.session_id = sessions.session_id AND f.type = 'thumbs_down'),
    preview = (SELECT substr(m.content, 1, {PREVIEW_CHARS}) FROM messages m
               WHERE m.session_id = sessions.session_id AND m.role = 'user'
               ORDER BY m.message_index LIMIT 1);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
UPDATE search_state SET indexed_rowid = (SELECT coalesce(max(rowid), 0) FROM messages);
"""


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable against a process crash in WAL mode; only an OS crash may lose the
    # last transactions, never leave half of one.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new database, or migrate an older one, in one transaction.

    Raises:
        ValueError: the database was written by a newer version (a later schema).
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{path} was written by a newer align-instrument (schema {version}, this one reads"
            f" {SCHEMA_VERSION}); upgrade align-instrument or use another --db"
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _statements(_BASE_SCHEMA):
            conn.execute(statement)
        present = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
        for name, declaration in _SESSION_COLUMNS_3:
            if name not in present:
                conn.execute(f"ALTER TABLE sessions ADD COLUMN {name} {declaration}")
        for statement in _statements(_SCHEMA_3 + rollups.SCHEMA):
            conn.execute(statement)
        for statement in _statements(_BACKFILL_3 + rollups.BACKFILL):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript() would commit the open transaction)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements
