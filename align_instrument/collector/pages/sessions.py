"""The sessions list: filters and sort in the URL, keyset paging, a preview of each session."""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..models import SessionSummary
from ..store import Store
from .layout import Page, count, esc, href, layout, session_href, status_badge, time_cell, user_link
from .params import FEEDBACK_LABELS, RANGE_LABELS, STATUS_LABELS, ListQuery, list_query

PAGE_SIZE = 50
LIVE_REGION = "sessions-live"


def sessions_page(store: Store, query: Mapping[str, str]) -> Page:
    """The list for ``query``: ``user``, ``feedback``, ``status``, ``text``, ``range`` or
    ``from``/``to``, ``conflicts=1``, ``sort`` (``last_activity``/``messages``), ``order=asc``,
    and the page cursor ``after`` / ``before``."""
    version = store.version()
    state = list_query(query)
    try:
        region = _region(store, state)
    except ValueError:  # a cursor from another sort, edited by hand: start from the first page
        state = list_query({k: v for k, v in query.items() if k not in ("after", "before")})
        region = _region(store, state)
    title = f"Sessions of {state.filters.user_id}" if state.filters.user_id else "Sessions"
    body = (
        f'<h1>{esc(title)}</h1>{_filter_form(state)}<div id="{LIVE_REGION}" data-live-region>{region}</div>'
    )
    return Page(
        200, layout(title, body, "sessions", live_version=version), {LIVE_REGION: region}, version=version
    )


def _region(store: Store, state: ListQuery) -> str:
    page = store.session_page(
        state.filters, state.sort, state.descending, state.after, state.before, limit=PAGE_SIZE
    )
    if page.sessions:
        now = time.time()
        rows = "".join(session_row(s, now) for s in page.sessions)
        table = (
            '<div class="table-wrap"><table class="sessions"><caption'
            ' class="visually-hidden">Sessions</caption>'
            f"<thead><tr><th scope=col>Session</th><th scope=col>User</th>"
            '<th scope=col class="wide-only">Assistant</th>'
            f"{_sort_header(state, 'messages', 'Messages', 'num')}"
            '<th scope=col class="num">Up</th><th scope=col class="num">Down</th><th scope=col>Status</th>'
            '<th scope=col class="wide-only">Started</th>'
            f"{_sort_header(state, 'last_activity', 'Last activity', '')}"
            f"</tr></thead><tbody>{rows}</tbody></table></div>"
        )
    elif any(v for k, v in state.params().items() if k not in ("sort", "order")):
        table = '<p class="empty">No session matches these filters.</p>'
    else:
        table = (
            '<p class="empty">No sessions yet. Point the SDK at this collector, e.g. '
            '<code>AlignClient(host="http://127.0.0.1:8787")</code> or '
            "<code>ALIGNAI_HOST=http://127.0.0.1:8787</code>.</p>"
        )
    pager = []
    if page.previous_cursor:
        pager.append(f'<a href="{href("/sessions", state.params(after=None))}">« First page</a>')
        pager.append(
            f'<a rel="prev" href="{href("/sessions", state.params(before=page.previous_cursor))}">'
            "‹ Previous</a>"
        )
    if page.next_cursor:
        pager.append(
            '<a rel="next" class="next-page"'
            f' href="{href("/sessions", state.params(after=page.next_cursor, before=None))}">'
            "Next ›</a>"
        )
    shown = f"{count(page.total)} session{'s' if page.total != 1 else ''}"
    if page.total > len(page.sessions):
        shown += f", {len(page.sessions)} on this page"
    nav = f'<nav class="pager" aria-label="Pages">{"".join(pager)}</nav>' if pager else ""
    return f'<p class="summary-line" id="session-count">{shown}</p>{table}{nav}'


def session_row(s: SessionSummary, now: float) -> str:
    """One row of a sessions table (also used on a user's page)."""
    label = esc(s.title) + f' <span class="sub">{esc(s.session_id)}</span>' if s.title else esc(s.session_id)
    preview = f'<span class="preview" title="{esc(s.preview)}">{esc(s.preview)}</span>' if s.preview else ""
    flag = (
        f' <span class="conflict" title="messages received twice with different content">'
        f"{s.conflict_count} conflict{'s' if s.conflict_count != 1 else ''}</span>"
        if s.conflict_count
        else ""
    )
    return (
        f'<tr class="session" data-session-id="{esc(s.session_id)}">'
        f'<td><a class="session-link" href="{session_href(s.session_id)}">{label}</a>{preview}</td>'
        f'<td>{user_link(s.user_id)}</td><td class="wide-only">{esc(s.assistant_id or "—")}</td>'
        f'<td class="num">{s.message_count}</td><td class="num">{s.thumbs_up}</td>'
        f'<td class="num">{s.thumbs_down}</td><td>{status_badge(s.status(now))}{flag}</td>'
        f'<td class="wide-only">{time_cell(s.start_time, seconds=False)}</td>'
        f"<td>{time_cell(s.last_activity)}</td></tr>"
    )


def sessions_table(sessions: list[SessionSummary]) -> str:
    """A plain table of sessions (a user's page)."""
    now = time.time()
    rows = "".join(session_row(s, now) for s in sessions)
    return (
        '<div class="table-wrap"><table class="sessions"><thead><tr><th scope=col>Session</th><th'
        " scope=col>User</th>"
        '<th scope=col class="wide-only">Assistant</th><th scope=col class="num">Messages</th>'
        '<th scope=col class="num">Up</th><th scope=col class="num">Down</th><th scope=col>Status</th>'
        '<th scope=col class="wide-only">Started</th><th scope=col>Last activity</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _sort_header(state: ListQuery, key: str, label: str, css: str) -> str:
    active = state.sort == key
    descending = not (active and state.descending)  # a click on the active column flips it
    arrow = (" ▼" if state.descending else " ▲") if active else ""
    aria = f' aria-sort="{"descending" if state.descending else "ascending"}"' if active else ""
    link = href(
        "/sessions", state.params(sort=key, order=None if descending else "asc", after=None, before=None)
    )
    return f'<th scope=col class="{css}"{aria}><a href="{link}">{label}{arrow}</a></th>'


def _filter_form(state: ListQuery) -> str:
    f = state.filters

    def options(labels: Mapping[str, str], current: str | None) -> str:
        return "".join(
            f'<option value="{esc(value)}"{" selected" if (current or "") == value else ""}>'
            f"{esc(label)}</option>"
            for value, label in labels.items()
        )

    span = state.time_range
    ranges = {k: v for k, v in RANGE_LABELS.items() if k != "custom"}
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{esc(v)}">'
        for k, v in (
            ("sort", state.sort if state.sort != "last_activity" else ""),
            ("order", "" if state.descending else "asc"),
        )
        if v
    )
    if state.conflicts_only:
        hidden += '<input type="hidden" name="conflicts" value="1">'
    return (
        '<form class="filters" method="get" action="/sessions" aria-label="Filter sessions">'
        f'<label>User <input name="user" placeholder="any user" value="{esc(f.user_id or "")}"></label>'
        f'<label>Feedback <select name="feedback">{options(FEEDBACK_LABELS, f.feedback)}</select></label>'
        f'<label>Status <select name="status">{options(STATUS_LABELS, f.status)}</select></label>'
        "<label>Time range <select"
        f' name="range">{options(ranges, span.key if span.key != "custom" else "all")}'
        "</select></label>"
        f'<label>From (UTC) <input type="date" name="from" value="{esc(span.from_date)}"></label>'
        f'<label>To (UTC) <input type="date" name="to" value="{esc(span.to_date)}"></label>'
        f'<label>Text <input name="text" type="search" placeholder="words in a message, or a session id"'
        f' value="{esc(f.text or "")}"></label>'
        f'{hidden}<button type="submit">Apply</button>'
        + (
            '<a class="clear" href="/sessions">clear filters</a>'
            if any(v for k, v in state.params().items() if k not in ("sort", "order"))
            else ""
        )
        + "</form>"
    )
