"""The collector's web pages, rendered on the server (no JavaScript).

- ``/``: sessions, newest first, filterable by user and by feedback.
- ``/sessions/<id>``: a session's transcript, feedback shown on the message it targets.
- ``/users`` and ``/users/<id>``: users and one user's profile and sessions.

Everything that came from events is escaped. A page about a live session reloads itself
every few seconds (``<meta http-equiv="refresh">``) so a running app can be watched.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from .. import events as ev
from .store import Feedback, Message, SessionSummary, Store, User

REFRESH_SECONDS = 3
MAX_LISTED_SESSIONS = 500
FEEDBACK_FILTERS = {
    "": "any or none",
    "any": "with feedback",
    "thumbs_up": "with thumbs up",
    "thumbs_down": "with thumbs down",
    "none": "without feedback",
}
# Plain arrows, not emoji: emoji fonts are often missing (headless and server machines).
_FEEDBACK_ICON = {ev.FEEDBACK_THUMBS_UP: "▲", ev.FEEDBACK_THUMBS_DOWN: "▼"}


@dataclass(frozen=True)
class Page:
    """A rendered page: HTTP status and HTML text."""

    status: int
    html: str


def render(store: Store, path: str, query: Mapping[str, str]) -> Page:
    """Render the page at ``path`` (still percent-encoded) with its query parameters.

    Example:
        >>> render(store, "/sessions/s-1", {}).status
        200
    """
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if not parts:
        return sessions_page(store, user_id=query.get("user") or None, feedback=query.get("feedback") or None)
    if parts[0] == "sessions" and len(parts) == 2:
        return session_page(store, parts[1])
    if parts == ["sessions"]:
        return sessions_page(store, user_id=query.get("user") or None, feedback=query.get("feedback") or None)
    if parts == ["users"]:
        return users_page(store)
    if parts[0] == "users" and len(parts) == 2:
        return user_page(store, parts[1])
    return _not_found(f"No page at {path}.")


def sessions_page(store: Store, user_id: str | None = None, feedback: str | None = None) -> Page:
    """The sessions list, newest first, with the filter form."""
    if feedback not in FEEDBACK_FILTERS:
        feedback = None
    # The newest only: a page of thousands of rows helps nobody (the CLI lists everything).
    sessions = store.sessions(user_id=user_id, feedback=feedback or None, limit=MAX_LISTED_SESSIONS + 1)
    truncated = len(sessions) > MAX_LISTED_SESSIONS
    sessions = sessions[:MAX_LISTED_SESSIONS]
    now = time.time()
    users = [u.user_id for u in store.users()]
    options = "".join(
        f'<option value="{_e(value)}"{" selected" if (feedback or "") == value else ""}>{_e(label)}</option>'
        for value, label in FEEDBACK_FILTERS.items()
    )
    user_options = "".join(f'<option value="{_e(u)}"></option>' for u in users)
    form = (
        '<form class="filters" method="get" action="/">'
        '<label>User <input name="user" list="users" placeholder="any user"'
        f' value="{_e(user_id or "")}"></label>'
        f'<datalist id="users">{user_options}</datalist>'
        f'<label>Feedback <select name="feedback">{options}</select></label>'
        '<button type="submit">Filter</button>'
        + ('<a class="clear" href="/">clear</a>' if user_id or feedback else "")
        + "</form>"
    )
    if sessions:
        rows = "".join(_session_row(s, now) for s in sessions)
        table = (
            '<table class="sessions"><thead><tr><th>Session</th><th>User</th><th>Assistant</th>'
            '<th class="num">Messages</th><th class="num">Up</th><th class="num">Down</th><th>Status</th>'
            f"<th>Started</th><th>Last activity</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    elif user_id or feedback:
        table = '<p class="empty">No session matches these filters.</p>'
    else:
        table = (
            '<p class="empty">No sessions yet. Point the SDK at this collector, e.g. '
            '<code>AlignClient(host="http://127.0.0.1:8787")</code> or '
            "<code>ALIGNAI_HOST=http://127.0.0.1:8787</code>.</p>"
        )
    live = any(s.status(now) == "live" for s in sessions)
    title = f"Sessions of {user_id}" if user_id else "Sessions"
    count = f"newest {len(sessions)}" if truncated else str(len(sessions))
    note = (
        f'<p class="sub">Showing the newest {MAX_LISTED_SESSIONS}; filter by user or use'
        " <code>align-instrument sessions</code> for all.</p>"
        if truncated
        else ""
    )
    body = f"<h1>{_e(title)} <small>{count}</small></h1>{form}{table}{note}"
    return Page(200, _layout(title, body, refresh=live))


def session_page(store: Store, session_id: str) -> Page:
    """One session's transcript."""
    session = store.session(session_id)
    if session is None:
        return _not_found(f"No session {session_id!r} has been received.")
    now = time.time()
    status = session.status(now)
    meta = [
        ("User", _user_link(session.user_id)),
        ("Assistant", _e(session.assistant_id or "—")),
        ("Status", _status_badge(status)),
        ("Started", _time(session.start_time)),
        ("Last activity", _time(session.last_activity)),
    ]
    if session.close_time is not None:
        meta.append(("Closed", _time(session.close_time)))
    meta.append(("Messages", str(session.message_count)))
    if session.custom_properties:
        meta.append(("Properties", _props(session.custom_properties)))
    if session.session_feedback:
        meta.append(("Session feedback", _feedback_badges(session.session_feedback)))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in meta)
    if session.messages:
        transcript = '<ol class="transcript">' + "".join(_message(m) for m in session.messages) + "</ol>"
    else:
        transcript = '<p class="empty">No messages received for this session (yet).</p>'
    unmatched = ""
    if session.unmatched_feedback:
        items = "".join(
            f"<li>{_feedback_badges([f])} on message #{f.message_index} (not received)</li>"
            for f in session.unmatched_feedback
        )
        unmatched = (
            f'<section class="unmatched"><h2>Feedback on missing messages</h2><ul>{items}</ul></section>'
        )
    title = session.title or session.session_id
    body = (
        '<p class="crumbs"><a href="/">Sessions</a> ›</p>'
        f'<h1>Session <span class="id">{_e(title)}</span></h1>'
        f'<dl class="meta">{dl}</dl>{transcript}{unmatched}'
    )
    return Page(200, _layout(f"Session {title}", body, refresh=status == "live"))


def users_page(store: Store) -> Page:
    """Every user, most recently active first."""
    users = store.users()
    if users:
        rows = "".join(
            "<tr>"
            f"<td>{_user_link(u.user_id)}</td><td>{_e(u.display_name or '—')}</td>"
            f"<td>{_e(u.email or '—')}</td>"
            f"<td>{_e(u.location or '—')}</td><td class='num'>{u.session_count}</td>"
            "</tr>"
            for u in users
        )
        table = (
            '<table class="users"><thead><tr><th>User</th><th>Name</th><th>Email</th><th>Location</th>'
            f'<th class="num">Sessions</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    else:
        table = '<p class="empty">No users yet.</p>'
    return Page(200, _layout("Users", f"<h1>Users <small>{len(users)}</small></h1>{table}"))


def user_page(store: Store, user_id: str) -> Page:
    """One user's profile and sessions."""
    user = store.user(user_id)
    if user is None:
        return _not_found(f"No user {user_id!r} has been received.")
    sessions = store.sessions(user_id=user_id)
    now = time.time()
    meta = _user_meta(user)
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in meta)
    if sessions:
        rows = "".join(_session_row(s, now) for s in sessions)
        table = (
            '<table class="sessions"><thead><tr><th>Session</th><th>User</th><th>Assistant</th>'
            '<th class="num">Messages</th><th class="num">Up</th><th class="num">Down</th><th>Status</th>'
            f"<th>Started</th><th>Last activity</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        table = '<p class="empty">No sessions for this user.</p>'
    name = user.display_name or user.user_id
    body = (
        '<p class="crumbs"><a href="/users">Users</a> ›</p>'
        f'<h1>User <span class="id">{_e(name)}</span></h1><dl class="meta">{dl}</dl>'
        f"<h2>Sessions <small>{len(sessions)}</small></h2>{table}"
    )
    live = any(s.status(now) == "live" for s in sessions)
    return Page(200, _layout(f"User {name}", body, refresh=live))


# --- pieces ---------------------------------------------------------------------------------------------


def _user_meta(user: User) -> list[tuple[str, str]]:
    meta = [("User id", f'<span class="id">{_e(user.user_id)}</span>')]
    if user.display_name:
        meta.append(("Name", _e(user.display_name)))
    if user.email:
        meta.append(("Email", _e(user.email)))
    if user.location:
        meta.append(("Location", _e(user.location)))
    if user.create_time is not None:
        meta.append(("Created", _time(user.create_time)))
    if user.custom_properties:
        meta.append(("Properties", _props(user.custom_properties)))
    meta.append(
        ("Identified", _time(user.last_identified) if user.last_identified else "never (seen in sessions)")
    )
    return meta


def _session_row(s: SessionSummary, now: float) -> str:
    href = "/sessions/" + quote(s.session_id, safe="")
    label = _e(s.title) + f' <span class="sub">{_e(s.session_id)}</span>' if s.title else _e(s.session_id)
    return (
        f'<tr class="session" data-session-id="{_e(s.session_id)}">'
        f'<td><a class="session-link" href="{_e(href)}">{label}</a></td>'
        f"<td>{_user_link(s.user_id)}</td><td>{_e(s.assistant_id or '—')}</td>"
        f'<td class="num">{s.message_count}</td><td class="num">{s.thumbs_up or ""}</td>'
        f'<td class="num">{s.thumbs_down or ""}</td><td>{_status_badge(s.status(now))}</td>'
        f"<td>{_time(s.start_time)}</td><td>{_time(s.last_activity)}</td></tr>"
    )


def _message(m: Message) -> str:
    role = m.role if m.role in ev.ROLES else "other"
    extras = ""
    if m.custom_properties:
        extras += _props(m.custom_properties)
    if m.feedback:
        extras += _feedback_badges(m.feedback)
    return (
        f'<li class="message {role}" id="m{m.index}" data-index="{m.index}">'
        f'<div class="head"><span class="role">{_e(m.role)}</span> <a href="#m{m.index}">#{m.index}</a>'
        f" <time>{_time(m.create_time)}</time></div>"
        f'<div class="content">{_e(m.content)}</div>'
        + (f'<div class="extras">{extras}</div>' if extras else "")
        + "</li>"
    )


def _feedback_badges(feedback: Iterable[Feedback]) -> str:
    return "".join(
        f'<span class="feedback {_e(f.type)}" title="{_e(f.type)} at {_plain_time(f.create_time)} UTC">'
        f"{_FEEDBACK_ICON.get(f.type, '?')} {_e(f.type.replace('_', ' '))}</span>"
        for f in feedback
    )


def _props(props: Mapping[str, str]) -> str:
    return (
        '<span class="props">'
        + "".join(f'<span class="prop"><b>{_e(k)}</b>={_e(v)}</span>' for k, v in props.items())
        + "</span>"
    )


def _user_link(user_id: str | None) -> str:
    if not user_id:
        return '<span class="sub">unknown (no session_open yet)</span>'
    return f'<a href="/users/{_e(quote(user_id, safe=""))}">{_e(user_id)}</a>'


def _status_badge(status: str) -> str:
    return f'<span class="status {status}">{status}</span>'


def _plain_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _time(ts: float | None) -> str:
    if ts is None:
        return "—"
    return f'<span class="ts" title="{ts:.6f}">{_plain_time(ts)} UTC</span>'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _not_found(message: str) -> Page:
    body = f'<h1>Not found</h1><p class="empty">{_e(message)}</p><p><a href="/">All sessions</a></p>'
    return Page(404, _layout("Not found", body))


def _layout(title: str, body: str, refresh: bool = False) -> str:
    refresh_tag = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    live_note = '<span class="autorefresh">live · refreshing</span>' if refresh else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{refresh_tag}<title>{_e(title)} · Align local collector</title><style>{_CSS}</style></head>"
        '<body><header><a class="brand" href="/">Align <span>local collector</span></a>'
        f'<nav><a href="/">Sessions</a><a href="/users">Users</a></nav>{live_note}</header>'
        f"<main>{body}</main></body></html>"
    )


_CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2430;background:#f5f6f8}
header{display:flex;align-items:center;gap:24px;padding:10px 24px;background:#1f2430;color:#fff}
header a{color:#cfd6e4;text-decoration:none}
header a:hover{color:#fff}
.brand{font-weight:700;color:#fff!important;font-size:16px}
.brand span{font-weight:400;color:#9aa5b8}
nav{display:flex;gap:16px}
.autorefresh{margin-left:auto;color:#7fd49b;font-size:12px}
main{max-width:1100px;margin:0 auto;padding:20px 24px}
h1{font-size:22px;margin:8px 0 16px}
h2{font-size:17px;margin:24px 0 10px}
small{color:#8a93a5;font-weight:400}
a{color:#2f6fdb}
.id{font-family:ui-monospace,Menlo,monospace;font-size:.9em}
.sub{color:#8a93a5;font-size:12px}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;
box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#fafbfc;font-weight:600;color:#5b6475;
font-size:12px;text-transform:uppercase;letter-spacing:.03em}
tr:last-child td{border-bottom:0}
tbody tr:hover{background:#f8faff}
.num{text-align:right}
.filters{display:flex;gap:14px;align-items:center;margin:0 0 14px;flex-wrap:wrap}
.filters input,.filters select{padding:5px 8px;border:1px solid #cfd4dc;border-radius:6px;font:inherit}
.filters button{padding:5px 14px;border:0;border-radius:6px;
background:#2f6fdb;color:#fff;font:inherit;cursor:pointer}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px}
.status.live{background:#dff5e6;color:#17733a}
.status.idle{background:#fff3d6;color:#8a5a00}
.status.closed{background:#eceef2;color:#5b6475}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;padding:14px 18px;
border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.06);margin:0 0 18px}
.meta dt{color:#5b6475}
.meta dd{margin:0}
.transcript{list-style:none;padding:0;margin:0;display:flex;flex-direction:column;gap:10px}
.message{max-width:78%;padding:10px 14px;
border-radius:12px;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.07)}
.message.user{align-self:flex-end;background:#e3edff}
.message.assistant{align-self:flex-start}
.message .head{font-size:12px;color:#5b6475;margin-bottom:4px}
.message .head a{color:#8a93a5;text-decoration:none}
.message .role{font-weight:600;text-transform:capitalize;color:#1f2430}
.content{white-space:pre-wrap;overflow-wrap:anywhere}
.extras{margin-top:6px;display:flex;gap:6px;flex-wrap:wrap}
.props{display:inline-flex;gap:6px;flex-wrap:wrap}
.prop{font-size:12px;background:#f0f2f5;
border-radius:4px;padding:0 6px;font-family:ui-monospace,Menlo,monospace}
.feedback{font-size:12px;border-radius:10px;padding:1px 8px;margin-right:4px}
.feedback.thumbs_up{background:#dff5e6;color:#17733a}
.feedback.thumbs_down{background:#fde2e2;color:#a02020}
.empty{color:#5b6475;background:#fff;padding:16px;border-radius:8px}
.crumbs{margin:0;color:#8a93a5}
.crumbs a{text-decoration:none}
.unmatched ul{padding-left:18px}
code{background:#eceef2;padding:1px 5px;border-radius:4px}
"""
