"""The overview's numbers: activity over time, feedback, message counts per session, top users.

Sessions and users are counted by when a session started (its first event); messages from the
hourly rollup kept on ingest; feedback by its time. Buckets are UTC hours when the range spans
at most three days, else UTC days. Every query reads an index range, never the messages.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

HOUR = 3600
DAY = 24 * HOUR
HOURLY_UP_TO = 3 * DAY
TOP_USERS = 10
MAX_BUCKETS = 1000
# Messages per session, in bins that double: legible for 1 message and for 10,000.
DISTRIBUTION_BINS = (
    (0, 0),
    (1, 1),
    (2, 2),
    (3, 4),
    (5, 8),
    (9, 16),
    (17, 32),
    (33, 64),
    (65, 128),
    (129, None),
)


@dataclass(frozen=True)
class Bucket:
    """One hour or day of activity.

    Attributes:
        start: the bucket's first second (POSIX, UTC).
        sessions: sessions that started in it.
        users: distinct users of those sessions.
        messages: messages created in it.
        thumbs_up: thumbs-up feedback given in it.
        thumbs_down: thumbs-down feedback given in it.
    """

    start: float
    sessions: int = 0
    users: int = 0
    messages: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0


@dataclass(frozen=True)
class TopUser:
    """A user among the most active in the range: by messages, then sessions."""

    user_id: str
    sessions: int
    messages: int


@dataclass(frozen=True)
class Overview:
    """Everything the overview page shows for one time range.

    Attributes:
        since, until: the range (POSIX seconds); the data's own span when none was asked for.
        bucket_seconds: 3600 or 86400 (a multiple of days beyond 1,000 days).
        buckets: every bucket of the range, oldest first (empty ones included).
        sessions, users, messages, thumbs_up, thumbs_down: totals over the range.
        conflicts: messages received for an index already stored, with other content.
        distribution: (label, sessions) per bin of messages per session.
        top_users: the most active users.
        empty: nothing at all has been received.
    """

    since: float
    until: float
    bucket_seconds: int
    buckets: list[Bucket]
    sessions: int
    users: int
    messages: int
    thumbs_up: int
    thumbs_down: int
    conflicts: int
    distribution: list[tuple[str, int]]
    top_users: list[TopUser]
    empty: bool


def overview(conn: sqlite3.Connection, since: float | None = None, until: float | None = None) -> Overview:
    """Compute the overview for ``[since, until]``, in one read snapshot."""
    conn.execute("BEGIN")
    try:
        return _overview(conn, since, until)
    finally:
        conn.execute("COMMIT")


def _overview(conn: sqlite3.Connection, since: float | None, until: float | None) -> Overview:
    first, last = conn.execute("SELECT min(first_activity), max(last_activity) FROM sessions").fetchone()
    empty = first is None
    now = time.time()
    if since is None:
        since = first if first is not None else now - DAY
    if until is None:
        until = max(last, since) if last is not None else now
    width = HOUR if until - since <= HOURLY_UP_TO else DAY
    if (until - since) / width > MAX_BUCKETS:  # decades of data, or a far-off timestamp: wider bars
        width = DAY * -(-int(until - since) // (DAY * MAX_BUCKETS))
    lo, hi = int(since // width), int(until // width)
    rows: dict[int, dict[str, int]] = {b: {} for b in range(lo, hi + 1)}

    def add(bucket: int, **values: int) -> None:
        if bucket in rows:
            rows[bucket].update(values)

    session_range = "first_activity >= ? AND first_activity <= ?"
    for bucket, n_sessions, n_users in conn.execute(
        f"SELECT CAST(first_activity / {width} AS INTEGER) AS b, count(*), count(DISTINCT user_id)"
        f" FROM sessions WHERE {session_range} GROUP BY b",
        (since, until),
    ):
        add(bucket, sessions=n_sessions, users=n_users)
    for bucket, n in conn.execute(
        f"SELECT hour * {HOUR} / {width} AS b, sum(messages) FROM message_hours"
        " WHERE hour >= ? AND hour <= ? GROUP BY b",
        (int(since // HOUR), int(until // HOUR)),
    ):
        add(bucket, messages=n)
    for bucket, up, down in conn.execute(
        f"SELECT CAST(create_time / {width} AS INTEGER) AS b,"
        " sum(type = 'thumbs_up'), sum(type = 'thumbs_down')"
        " FROM feedback WHERE create_time >= ? AND create_time <= ? GROUP BY b",
        (since, until),
    ):
        add(bucket, thumbs_up=up, thumbs_down=down)
    buckets = [Bucket(float(b * width), **values) for b, values in sorted(rows.items())]
    n_sessions, n_users = conn.execute(
        f"SELECT count(*), count(DISTINCT user_id) FROM sessions WHERE {session_range}", (since, until)
    ).fetchone()
    conflicts = conn.execute(
        "SELECT count(*) FROM message_conflicts WHERE received_at >= ? AND received_at <= ?", (since, until)
    ).fetchone()[0]
    return Overview(
        since=since,
        until=until,
        bucket_seconds=width,
        buckets=buckets,
        sessions=n_sessions,
        users=n_users,
        messages=sum(b.messages for b in buckets),
        thumbs_up=sum(b.thumbs_up for b in buckets),
        thumbs_down=sum(b.thumbs_down for b in buckets),
        conflicts=conflicts,
        distribution=_distribution(conn, session_range, since, until),
        top_users=_top_users(conn, session_range, since, until),
        empty=empty,
    )


def _distribution(
    conn: sqlite3.Connection, session_range: str, since: float, until: float
) -> list[tuple[str, int]]:
    cases = " ".join(
        f"WHEN message_count <= {high} THEN {i}"
        for i, (_, high) in enumerate(DISTRIBUTION_BINS)
        if high is not None
    )
    counts = dict(
        conn.execute(
            f"SELECT CASE {cases} ELSE {len(DISTRIBUTION_BINS) - 1} END AS bin, count(*)"
            f" FROM sessions WHERE {session_range} GROUP BY bin",
            (since, until),
        ).fetchall()
    )
    labels = [
        str(low) if low == high else (f"{low}+" if high is None else f"{low}-{high}")
        for low, high in DISTRIBUTION_BINS
    ]
    return [(label, counts.get(i, 0)) for i, label in enumerate(labels)]


def _top_users(conn: sqlite3.Connection, session_range: str, since: float, until: float) -> list[TopUser]:
    rows = conn.execute(
        "SELECT user_id, count(*) AS n, sum(message_count) AS m FROM sessions"
        f" WHERE {session_range} AND user_id IS NOT NULL GROUP BY user_id ORDER BY m DESC, n DESC, user_id"
        f" LIMIT {TOP_USERS}",
        (since, until),
    )
    return [TopUser(*row) for row in rows]
