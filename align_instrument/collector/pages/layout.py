"""The page shell (header, navigation, live-update control) and the small pieces pages share.

Everything that came from events goes through :func:`esc`. Pages carry no inline script: the
live-update script is served from ``/static/live.js`` (the Content-Security-Policy allows only
scripts from the collector itself).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from ... import events as ev
from ..models import Feedback
from .style import CSS

# Plain arrows, not emoji: emoji fonts are often missing (headless and server machines).
FEEDBACK_ICON = {ev.FEEDBACK_THUMBS_UP: "▲", ev.FEEDBACK_THUMBS_DOWN: "▼"}
NAV = (("overview", "/", "Overview"), ("sessions", "/sessions", "Sessions"), ("users", "/users", "Users"))


@dataclass(frozen=True)
class Page:
    """A rendered page: HTTP status and HTML text.

    For live updates: ``regions`` (element id to inner HTML) replace parts of the page;
    ``messages`` are transcript items to insert or replace; ``version`` is the store version
    they show.
    """

    status: int
    html: str
    regions: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    version: int | None = None


def esc(text: object) -> str:
    """HTML-escaped text, quotes included (safe in attributes)."""
    return html.escape(str(text), quote=True)


def plain_time(ts: float, seconds: bool = True) -> str:
    """``2026-11-26 13:58:08`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.gmtime(ts))


def time_cell(ts: float | None, seconds: bool = True) -> str:
    """A timestamp that never wraps, exact value in its tooltip; an em dash when unknown."""
    if ts is None:
        return "—"
    return (
        f'<time class="ts" datetime="{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))}"'
        f' title="{plain_time(ts)} UTC">{plain_time(ts, seconds)}</time>'
    )


def count(n: int) -> str:
    """A count with thousands separators: ``12,345``."""
    return f"{n:,}"


def href(path: str, params: Mapping[str, object | None] | None = None) -> str:
    """A link with the non-empty query parameters, escaped for an attribute."""
    query = {k: str(v) for k, v in (params or {}).items() if v not in (None, "")}
    return esc(path + ("?" + urlencode(query) if query else ""))


def session_href(session_id: str, index: int | None = None) -> str:
    return esc("/sessions/" + quote(session_id, safe="") + (f"#m{index}" if index is not None else ""))


def user_link(user_id: str | None) -> str:
    if not user_id:
        return '<span class="sub">unknown</span>'
    return f'<a href="/users/{esc(quote(user_id, safe=""))}">{esc(user_id)}</a>'


def status_badge(status: str) -> str:
    return f'<span class="status {status}">{status}</span>'


def feedback_badges(feedback: Iterable[Feedback]) -> str:
    return "".join(
        f'<span class="feedback {esc(f.type)}" title="{esc(f.type)} at {plain_time(f.create_time)} UTC">'
        f"{FEEDBACK_ICON.get(f.type, '?')} {esc(f.type.replace('_', ' '))}</span>"
        for f in feedback
    )


def props(values: Mapping[str, str]) -> str:
    return (
        '<span class="props">'
        + "".join(f'<span class="prop"><b>{esc(k)}</b>={esc(v)}</span>' for k, v in values.items())
        + "</span>"
    )


def meta_list(items: Iterable[tuple[str, str]]) -> str:
    return '<dl class="meta">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def not_found(message: str) -> Page:
    body = f'<h1>Not found</h1><p class="empty">{esc(message)}</p><p><a href="/sessions">All sessions</a></p>'
    return Page(404, layout("Not found", body, section=""))


def layout(title: str, body: str, section: str, live_version: int | None = None, search: str = "") -> str:
    """The whole page. ``live_version``: the store version rendered; when set, the page updates
    its live regions as new events arrive (see ``/static/live.js``)."""
    nav = "".join(
        f'<a href="{path}"{" aria-current=page" if key == section else ""}>{label}</a>'
        for key, path, label in NAV
    )
    live = ""
    live_attrs = ""
    if live_version is not None:
        live = (
            '<div class="live-control"><span id="live-state" class="live-state">live</span>'
            '<button type="button" id="live-toggle" aria-pressed="false">Pause updates</button></div>'
        )
        live_attrs = f' data-live-version="{live_version}"'
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · Align local collector</title><style>{CSS}</style>"
        + ('<script src="/static/live.js" defer></script>' if live_version is not None else "")
        + f"</head><body{live_attrs}>"
        '<a class="skip" href="#main">Skip to content</a>'
        '<header><a class="brand" href="/">Align <span>local collector</span></a>'
        f'<nav aria-label="Main">{nav}</nav>'
        '<form class="quick-search" role="search" method="get" action="/search">'
        '<label class="visually-hidden" for="header-q">Search messages</label>'
        f'<input id="header-q" name="q" type="search" placeholder="Search messages" value="{esc(search)}">'
        f"</form>{live}</header>"
        f'<main id="main">{body}</main></body></html>'
    )
