"""The overview's numbers: activity over time, feedback, message counts per session, top users.

Sessions and users are counted by when a session started (its first event), messages and
feedback by their own time. Buckets are UTC hours when the range spans at most three days, else
UTC days; the range is widened to whole buckets. Everything is read from the rollups kept on
ingest (:mod:`.rollups`): the cost depends on the range's hours and users, not on how many
sessions or messages are stored.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from .rollups import BINS, DAY, HOUR

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
    # Two queries: SQLite answers a lone min() or max() from an index, both at once by a scan.
    first = conn.execute("SELECT min(first_activity) FROM sessions").fetchone()[0]
    last = conn.execute("SELECT max(last_activity) FROM sessions").fetchone()[0]
    now = time.time()
    if since is None:
        since = first if first is not None else now - DAY
    if until is None:
        until = max(last, since) if last is not None else now
    until = max(until, since)
    width = HOUR if until - since <= HOURLY_UP_TO else DAY
    if (until - since) / width > MAX_BUCKETS:  # decades of data, or a far-off timestamp: wider bars
        width = DAY * -(-int(until - since) // (DAY * MAX_BUCKETS))
    lo, hi = int(since // width), int(until // width)
    hours = (lo * width // HOUR, (hi + 1) * width // HOUR - 1)
    rows: dict[int, dict[str, int]] = {b: {} for b in range(lo, hi + 1)}

    def fill(name: str, sql: str, params: tuple[int, int]) -> None:
        for bucket, *values in conn.execute(sql, params):
            if bucket in rows:
                rows[bucket].update(zip(name.split(), values, strict=True))

    fill(
        "sessions",
        f"SELECT hour * {HOUR} / {width}, sum(sessions) FROM rollup_sessions WHERE hour BETWEEN ?"
        " AND ? GROUP BY 1",
        hours,
    )
    fill(
        "messages",
        f"SELECT hour * {HOUR} / {width}, sum(messages) FROM rollup_messages WHERE hour BETWEEN ?"
        " AND ? GROUP BY 1",
        hours,
    )
    fill(
        "thumbs_up thumbs_down",
        f"SELECT hour * {HOUR} / {width}, sum(thumbs_up), sum(thumbs_down) FROM rollup_feedback"
        " WHERE hour BETWEEN ? AND ? GROUP BY 1",
        hours,
    )
    # Distinct users: from the per-hour table for hourly bars, else the per-day one.
    table, column, unit = (
        ("rollup_user_hours", "hour", HOUR) if width == HOUR else ("rollup_user_days", "day", DAY)
    )
    units = (lo * width // unit, (hi + 1) * width // unit - 1)
    distinct = "count(*)" if width == unit else "count(DISTINCT user_id)"
    fill(
        "users",
        f"SELECT {column} * {unit} / {width}, {distinct} FROM {table}"
        f" WHERE {column} BETWEEN ? AND ? AND sessions > 0 GROUP BY 1",
        units,
    )
    if first is None or (lo * width <= first and last < (hi + 1) * width):
        # The whole span of the data (the default view): the all-time totals, one row per user.
        per_user = conn.execute(
            "SELECT user_id, sessions, messages FROM rollup_users WHERE sessions > 0"
        ).fetchall()
    else:
        per_user = conn.execute(
            f"SELECT user_id, sum(sessions) AS n, sum(messages) FROM {table} WHERE {column} BETWEEN ? AND ?"
            " GROUP BY user_id HAVING n > 0",
            units,
        ).fetchall()
    top = sorted(per_user, key=lambda row: (-row[2], -row[1], row[0]))[:TOP_USERS]
    bins = dict(
        conn.execute(
            "SELECT bin, sum(sessions) FROM rollup_sessions WHERE hour BETWEEN ? AND ? GROUP BY bin", hours
        ).fetchall()
    )
    conflicts = conn.execute(
        "SELECT count(*) FROM message_conflicts WHERE create_time >= ? AND create_time < ?",
        (lo * width, (hi + 1) * width),
    ).fetchone()[0]
    buckets = [Bucket(float(b * width), **values) for b, values in sorted(rows.items())]
    labels = [
        str(low) if low == high else (f"{low}+" if high is None else f"{low}-{high}") for low, high in BINS
    ]
    return Overview(
        since=float(lo * width),
        until=float((hi + 1) * width),
        bucket_seconds=width,
        buckets=buckets,
        sessions=sum(b.sessions for b in buckets),
        users=len(per_user),
        messages=sum(b.messages for b in buckets),
        thumbs_up=sum(b.thumbs_up for b in buckets),
        thumbs_down=sum(b.thumbs_down for b in buckets),
        conflicts=conflicts,
        distribution=[(label, bins.get(i, 0)) for i, label in enumerate(labels)],
        top_users=[TopUser(*row) for row in top],
        empty=first is None,
    )
