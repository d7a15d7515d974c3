"""Hourly and daily counts kept up to date on ingest, so the overview never scans sessions or messages.

A session counts in the hour (and day) of its first event, for its user, with its message count
in a bin of :data:`BINS`. When a batch changes any of these for a session (an earlier event
arrives, its ``session_open`` names the user, messages arrive), the session's old contribution
is taken out and its new one put in: the counts stay exact under any arrival order.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import Counter
from collections.abc import Iterable

HOUR = 3600
DAY = 86400
# Messages per session, in bins that double: legible for 1 message and for 10,000.
BINS = ((0, 0), (1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 64), (65, 128), (129, None))
_UPPER = [high for _, high in BINS[:-1]]
_CHUNK = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollup_sessions (
    hour INTEGER NOT NULL, bin INTEGER NOT NULL, sessions INTEGER NOT NULL, PRIMARY KEY (hour, bin)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_user_hours (
    hour INTEGER NOT NULL, user_id TEXT NOT NULL, sessions INTEGER NOT NULL, messages INTEGER NOT NULL,
    PRIMARY KEY (hour, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_user_days (
    day INTEGER NOT NULL, user_id TEXT NOT NULL, sessions INTEGER NOT NULL, messages INTEGER NOT NULL,
    PRIMARY KEY (day, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_users (
    user_id TEXT PRIMARY KEY, sessions INTEGER NOT NULL, messages INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_messages (hour INTEGER PRIMARY KEY, messages INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rollup_feedback (
    hour INTEGER PRIMARY KEY, thumbs_up INTEGER NOT NULL, thumbs_down INTEGER NOT NULL
);
"""


def bin_of(message_count: int) -> int:
    """The index in :data:`BINS` of a session with ``message_count`` messages."""
    return bisect.bisect_left(_UPPER, message_count)


def _bin_sql(column: str) -> str:
    cases = " ".join(f"WHEN {column} <= {high} THEN {i}" for i, high in enumerate(_UPPER))
    return f"CASE {cases} ELSE {len(BINS) - 1} END"


BACKFILL = f"""
INSERT INTO rollup_sessions
    SELECT CAST(first_activity / {HOUR} AS INTEGER), {_bin_sql("message_count")}, count(*) FROM sessions
    GROUP BY 1, 2;
INSERT INTO rollup_user_hours
    SELECT CAST(first_activity / {HOUR} AS INTEGER), user_id, count(*), sum(message_count) FROM sessions
    WHERE user_id IS NOT NULL GROUP BY 1, 2;
INSERT INTO rollup_user_days
    SELECT CAST(first_activity / {DAY} AS INTEGER), user_id, count(*), sum(message_count) FROM sessions
    WHERE user_id IS NOT NULL GROUP BY 1, 2;
INSERT INTO rollup_users
    SELECT user_id, count(*), sum(message_count) FROM sessions WHERE user_id IS NOT NULL GROUP BY 1;
INSERT INTO rollup_messages SELECT CAST(create_time / {HOUR} AS INTEGER), count(*) FROM messages GROUP BY 1;
INSERT INTO rollup_feedback
    SELECT CAST(create_time / {HOUR} AS INTEGER), sum(type = 'thumbs_up'), sum(type = 'thumbs_down')
    FROM feedback GROUP BY 1;
"""

# (first_activity, user_id, message_count) of a session.
Snapshot = dict[str, tuple[float, "str | None", int]]


def snapshot(conn: sqlite3.Connection, session_ids: Iterable[str]) -> Snapshot:
    """What the rollups know of these sessions (those that exist)."""
    ids = list(session_ids)
    found: Snapshot = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for sid, first, user_id, count in conn.execute(
            "SELECT session_id, first_activity, user_id, message_count FROM sessions WHERE"
            f" session_id IN ({marks})",
            chunk,
        ):
            found[sid] = (first, user_id, count)
    return found


def update_sessions(conn: sqlite3.Connection, before: Snapshot, after: Snapshot) -> None:
    """Move each changed session's contribution from its old state to its new one."""
    sessions: Counter[tuple[int, int]] = Counter()
    # (table, user, hour or day or None): [sessions, messages] to add.
    per_user: dict[tuple[str, str, int | None], list[int]] = {}
    for sid, new in after.items():
        old = before.get(sid)
        if old == new:
            continue
        for state, sign in ((old, -1), (new, 1)):
            if state is None:
                continue
            first, user_id, count = state
            sessions[(int(first / HOUR), bin_of(count))] += sign
            if user_id is None:
                continue
            for key in (
                ("rollup_users", user_id, None),
                ("rollup_user_hours", user_id, int(first / HOUR)),
                ("rollup_user_days", user_id, int(first / DAY)),
            ):
                totals = per_user.setdefault(key, [0, 0])
                totals[0] += sign
                totals[1] += sign * count
    if sessions:
        conn.executemany(
            "INSERT INTO rollup_sessions VALUES (?, ?, ?)"
            " ON CONFLICT (hour, bin) DO UPDATE SET sessions = sessions + excluded.sessions",
            [(hour, b, n) for (hour, b), n in sessions.items() if n],
        )
    add = " DO UPDATE SET sessions = sessions + excluded.sessions, messages = messages + excluded.messages"
    for table, sql in (
        ("rollup_users", "INSERT INTO rollup_users VALUES (?, ?, ?) ON CONFLICT (user_id)" + add),
        (
            "rollup_user_hours",
            "INSERT INTO rollup_user_hours VALUES (?, ?, ?, ?) ON CONFLICT (hour, user_id)" + add,
        ),
        (
            "rollup_user_days",
            "INSERT INTO rollup_user_days VALUES (?, ?, ?, ?) ON CONFLICT (day, user_id)" + add,
        ),
    ):
        rows = [
            (user_id, n, m) if when is None else (when, user_id, n, m)
            for (name, user_id, when), (n, m) in per_user.items()
            if name == table
        ]
        if rows:
            conn.executemany(sql, rows)


def add_messages(conn: sqlite3.Connection, create_times: Iterable[float]) -> None:
    hours = Counter(int(t / HOUR) for t in create_times)
    conn.executemany(
        "INSERT INTO rollup_messages VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET messages = messages + ?",
        [(hour, n, n) for hour, n in hours.items()],
    )


def add_feedback(conn: sqlite3.Connection, feedback: Iterable[tuple[float, str | None]]) -> None:
    """Count feedback given at these (time, type)s."""
    up: Counter[int] = Counter()
    down: Counter[int] = Counter()
    for when, kind in feedback:
        (up if kind == "thumbs_up" else down)[int(when / HOUR)] += 1
    conn.executemany(
        "INSERT INTO rollup_feedback VALUES (?, ?, ?) ON CONFLICT (hour) DO UPDATE SET"
        " thumbs_up = thumbs_up + excluded.thumbs_up, thumbs_down = thumbs_down + excluded.thumbs_down",
        [(hour, up[hour], down[hour]) for hour in set(up) | set(down)],
    )
