"""Reading the pages' query parameters: time ranges, dates and the sessions list's filters.

Unknown or malformed values are ignored (the page shows everything), never an error page: a
shared link that an older or newer collector does not understand still opens.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ... import events as ev
from ..queries import SORTS, STATUSES, SessionFilter

RANGES = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400}
RANGE_LABELS = {
    "all": "All time",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "custom": "Custom dates",
}
FEEDBACK_LABELS = {
    "": "any or none",
    "any": "with feedback",
    ev.FEEDBACK_THUMBS_UP: "with thumbs up",
    ev.FEEDBACK_THUMBS_DOWN: "with thumbs down",
    "none": "without feedback",
}
STATUS_LABELS = {"": "any status", **{s: s for s in STATUSES}}


@dataclass(frozen=True)
class TimeRange:
    """A range as asked for: ``key`` (``all``, ``24h``..., ``custom``) and its bounds (None: open)."""

    key: str
    since: float | None
    until: float | None
    from_date: str
    to_date: str

    def params(self) -> dict[str, str]:
        """The query parameters that ask for this range again."""
        if self.key == "custom":
            return {"from": self.from_date, "to": self.to_date}
        return {} if self.key == "all" else {"range": self.key}


def parse_date(text: str | None, end_of_day: bool = False) -> float | None:
    """``YYYY-MM-DD`` as POSIX seconds at 00:00 UTC (or just before the next day); None if not one."""
    if not text:
        return None
    try:
        day = time.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        return None
    start = float(calendar.timegm(day))
    return start + 86400 - 0.000001 if end_of_day else start


def time_range(query: Mapping[str, str], now: float | None = None) -> TimeRange:
    """The range of ``?range=7d`` or ``?from=2026-11-01&to=2026-11-30`` (dates win)."""
    now = time.time() if now is None else now
    from_date, to_date = query.get("from", ""), query.get("to", "")
    since, until = parse_date(from_date), parse_date(to_date, end_of_day=True)
    if since is not None or until is not None:
        return TimeRange("custom", since, until, from_date if since else "", to_date if until else "")
    key = query.get("range", "all")
    if key in RANGES:
        return TimeRange(key, now - RANGES[key], None, "", "")
    return TimeRange("all", None, None, "", "")


@dataclass(frozen=True)
class ListQuery:
    """The sessions list's state, all of it in the URL."""

    filters: SessionFilter
    time_range: TimeRange
    sort: str
    descending: bool
    after: str | None
    before: str | None
    conflicts_only: bool

    def params(self, **changes: str | None) -> dict[str, str | None]:
        """Query parameters that show this list again, with ``changes`` applied (None drops one)."""
        f = self.filters
        params: dict[str, str | None] = {
            "user": f.user_id,
            "feedback": f.feedback,
            "status": f.status,
            "text": f.text,
            **self.time_range.params(),
            "conflicts": "1" if self.conflicts_only else None,
            "sort": None if self.sort == "last_activity" else self.sort,
            "order": None if self.descending else "asc",
        }
        params.update(changes)
        return params


def list_query(query: Mapping[str, str]) -> ListQuery:
    """The sessions list's state from its query parameters."""
    span = time_range(query)
    feedback = query.get("feedback") or None
    status = query.get("status") or None
    sort = query.get("sort", "last_activity")
    conflicts_only = query.get("conflicts") == "1"
    filters = SessionFilter(
        user_id=query.get("user") or None,
        feedback=feedback if feedback in FEEDBACK_LABELS else None,
        status=status if status in STATUSES else None,
        since=span.since,
        until=span.until,
        text=(query.get("text") or "").strip() or None,
        conflicts_only=conflicts_only,
    )
    return ListQuery(
        filters=filters,
        time_range=span,
        sort=sort if sort in SORTS else "last_activity",
        descending=query.get("order") != "asc",
        after=query.get("after") or None,
        before=query.get("before") or None,
        conflicts_only=conflicts_only,
    )
