"""The overview (landing page): how much, how good, how is it trending, over a chosen range."""

from __future__ import annotations

from collections.abc import Mapping

from ..overview import Overview
from ..store import Store
from .charts import Series, bar_chart, compact, legend, time_chart
from .layout import Page, count, esc, href, layout, plain_time, user_link
from .params import RANGE_LABELS, TimeRange, time_range

UP_COLOR, DOWN_COLOR, MAIN_COLOR, USERS_COLOR, MESSAGES_COLOR = (
    "#2e9d57",
    "#d64545",
    "#3b7be0",
    "#7a5cd6",
    "#1f8fa3",
)
LIVE_REGION = "overview-live"


def overview_page(store: Store, query: Mapping[str, str]) -> Page:
    """The overview page for the range in ``query`` (``range=24h|7d|30d|90d`` or ``from``/``to``)."""
    version = store.version()
    span = time_range(query)
    data = store.overview(span.since, span.until)
    region = _region(data, span)
    body = f'<h1>Overview</h1>{_range_form(span)}<div id="{LIVE_REGION}" data-live-region>{region}</div>'
    return Page(
        200,
        layout("Overview", body, "overview", live_version=version),
        {LIVE_REGION: region},
        version=version,
    )


def _range_form(span: TimeRange) -> str:
    options = "".join(
        f'<option value="{key}"{" selected" if key == span.key else ""}>{label}</option>'
        for key, label in RANGE_LABELS.items()
        if key != "custom"
    )
    return (
        '<form class="filters" method="get" action="/" aria-label="Time range">'
        f'<label>Time range <select name="range">{options}</select></label>'
        f'<label>From (UTC) <input type="date" name="from" value="{esc(span.from_date)}"></label>'
        f'<label>To (UTC) <input type="date" name="to" value="{esc(span.to_date)}"></label>'
        '<button type="submit">Show</button>'
        + ('<a class="clear" href="/">all time</a>' if span.key != "all" else "")
        + "</form>"
    )


def _region(data: Overview, span: TimeRange) -> str:
    per = "hour" if data.bucket_seconds == 3600 else ("day" if data.bucket_seconds == 86400 else "bar")
    range_text = (
        f"{RANGE_LABELS[span.key]}: " if span.key != "custom" else ""
    ) + f"{plain_time(data.since, seconds=False)} to {plain_time(data.until, seconds=False)} UTC, per {per}"
    if data.bucket_seconds > 86400:
        range_text += f" ({data.bucket_seconds // 86400} days)"
    hint = (
        '<p class="empty">Nothing received yet. Point the SDK at this collector, e.g. '
        "<code>ALIGNAI_HOST=http://127.0.0.1:8787</code>; the charts fill in as events arrive.</p>"
        if data.empty
        else ""
    )
    starts = [b.start for b in data.buckets]
    width = data.bucket_seconds
    sessions_chart = time_chart(
        "Sessions started",
        starts,
        width,
        [Series("sessions", [b.sessions for b in data.buckets], MAIN_COLOR)],
    )
    users_chart = time_chart(
        "Active users", starts, width, [Series("users", [b.users for b in data.buckets], USERS_COLOR)]
    )
    messages_chart = time_chart(
        "Messages", starts, width, [Series("messages", [b.messages for b in data.buckets], MESSAGES_COLOR)]
    )
    feedback_series = [
        Series("thumbs up", [b.thumbs_up for b in data.buckets], UP_COLOR),
        Series("thumbs down", [b.thumbs_down for b in data.buckets], DOWN_COLOR),
    ]
    feedback_chart = time_chart("Feedback", starts, width, feedback_series)
    distribution = bar_chart(
        "Messages per session",
        [label for label, _ in data.distribution],
        [Series("sessions", [n for _, n in data.distribution], MAIN_COLOR)],
        unit="sessions",
    )
    cards = [
        _card("Sessions started", sessions_chart, f"per {per}, by their first event"),
        _card("Active users", users_chart, f"users with a session started in each {per}"),
        _card("Messages", messages_chart, f"per {per}, by the time they were sent"),
        _card("Feedback", legend(feedback_series) + feedback_chart, f"thumbs up and down per {per}"),
        _card("Thumbs up / thumbs down", _ratio(data), "share of all feedback in the range"),
        _card("Messages per session", distribution, "sessions by their number of messages"),
        _card("Most active users", _top_users(data, span), "by messages in their sessions"),
    ]
    return (
        f'<p class="summary-line">{esc(range_text)}</p>{hint}{_tiles(data, span)}'
        f'<div class="charts">{"".join(cards)}</div>'
    )


def _tiles(data: Overview, span: TimeRange) -> str:
    rated = data.thumbs_up + data.thumbs_down
    ratio = f"{data.thumbs_up / rated:.0%}" if rated else "—"
    sessions_link = href("/sessions", span.params())
    tiles = [
        f'<a class="tile" href="{sessions_link}"><div class="label">Sessions</div>'
        f'<div class="value">{count(data.sessions)}</div><div class="note">view the list</div></a>',
        f'<div class="tile"><div class="label">Users</div><div class="value">{count(data.users)}</div>'
        '<div class="note">with a session in range</div></div>',
        f'<div class="tile"><div class="label">Messages</div><div class="value">{count(data.messages)}</div>'
        f'<div class="note">{_per_session(data)}</div></div>',
        f'<div class="tile"><div class="label">Thumbs up</div><div class="value">{ratio}</div>'
        f'<div class="note">{count(data.thumbs_up)} up, {count(data.thumbs_down)} down</div></div>',
        f'<a class="tile{" warn" if data.conflicts else ""}" href="/sessions?conflicts=1">'
        f'<div class="label">Conflicts</div><div class="value">{count(data.conflicts)}</div>'
        '<div class="note">index re-sent with other content</div></a>',
    ]
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _per_session(data: Overview) -> str:
    if not data.sessions:
        return "none in range"
    return f"{data.messages / data.sessions:.1f} per session"


def _card(title: str, content: str, note: str = "") -> str:
    sub = f'<p class="sub">{esc(note)}</p>' if note else ""
    return f'<section class="card"><h2>{esc(title)}</h2>{sub}{content}</section>'


def _ratio(data: Overview) -> str:
    rated = data.thumbs_up + data.thumbs_down
    if not rated:
        return '<p class="sub">No feedback in this range.</p>'
    up = data.thumbs_up / rated
    return (
        f'<div class="ratio" role="img" aria-label="{up:.0%} thumbs up, {1 - up:.0%} thumbs down">'
        f'<div class="up" style="width:{up * 100:.2f}%"></div><div class="down"'
        f' style="width:{(1 - up) * 100:.2f}%">'
        "</div></div>"
        f'<div class="legend"><span><span class="swatch" style="background:{UP_COLOR}"></span>'
        f"{count(data.thumbs_up)} thumbs up ({up:.0%})</span>"
        f'<span><span class="swatch" style="background:{DOWN_COLOR}"></span>'
        f"{count(data.thumbs_down)} thumbs down ({1 - up:.0%})</span></div>"
    )


def _top_users(data: Overview, span: TimeRange) -> str:
    if not data.top_users:
        return '<p class="sub">No sessions with a known user in this range.</p>'
    most = max(u.messages for u in data.top_users) or 1
    rows = "".join(
        f"<tr><td>{user_link(u.user_id)}</td>"
        f'<td class="num"><a href="{href("/sessions", {"user": u.user_id, **span.params()})}">'
        f"{count(u.sessions)}</a></td>"
        f'<td class="num">{compact(u.messages)}</td>'
        '<td class="bar-cell" aria-hidden="true"><div class="bar"'
        f' style="width:{u.messages / most * 100:.1f}%"></div></td>'
        "</tr>"
        for u in data.top_users
    )
    return (
        '<table class="top-users"><thead><tr><th scope=col>User</th><th scope=col class="num">Sessions</th>'
        '<th scope=col class="num">Messages</th><th class="bar-cell"><span'
        ' class="visually-hidden">share</span></th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
