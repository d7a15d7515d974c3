"""A database written by the previous schema (2) opens, is migrated once, and keeps working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from collector_helpers import message
from test_collector_store import _checked

from align_instrument.collector import Store
from align_instrument.collector.schema import _BASE_SCHEMA, SCHEMA_VERSION


def _schema_2_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(_BASE_SCHEMA)
    conn.executescript(
        """
        INSERT INTO sessions
            (session_id, user_id, assistant_id, start_time, open_time, first_activity, last_activity)
            VALUES ('old', 'ada', 'bot', 1795700000, 1795700000, 1795700000, 1795700100);
        INSERT INTO messages VALUES ('old', 1, 'user', 'Where is my parcel?', NULL, 1795700010, 'e1');
        INSERT INTO messages VALUES ('old', 2, 'assistant', 'It ships tomorrow.', NULL, 1795700020, 'e2');
        INSERT INTO feedback VALUES ('e3', 'old', 'message', 2, 'thumbs_up', 1795700030);
        INSERT INTO users (user_id) VALUES ('ada');
        PRAGMA user_version = 2;
        """
    )
    conn.close()


def test_a_schema_2_database_is_migrated_and_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    _schema_2_database(path)
    with Store(path) as store:
        session = store.sessions()[0]
        assert (session.message_count, session.thumbs_up, session.preview) == (2, 1, "Where is my parcel?")
        assert [(h.session_id, h.index) for h in store.search("parcel").hits] == [("old", 1)]
        view = store.overview()
        assert (view.sessions, view.users, view.messages, view.thumbs_up) == (1, 1, 2, 1)
        store.ingest("r", _checked([message("old", 3, "user", "And the parcel number?")]))
        assert store.search("parcel").total == 2 and store.sessions()[0].message_count == 3
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    with Store(path) as reopened:  # the migration runs once; reopening changes nothing
        assert reopened.search("parcel").total == 2 and reopened.overview().messages == 3
