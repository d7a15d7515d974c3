"""Search over message texts: ranked hits with highlighted snippets, each linking to the message
inside its session."""

from __future__ import annotations

from collections.abc import Mapping

from ..models import MARK_END, MARK_START, SearchHit, SearchResults
from ..store import Store
from .layout import Page, count, esc, href, layout, session_href, time_cell, user_link

PAGE_SIZE = 20


def search_page(store: Store, query: Mapping[str, str]) -> Page:
    """Results for ``q`` (every word must occur; ``word*`` for prefixes), ``offset`` to page."""
    text = (query.get("q") or "").strip()
    offset = int(query["offset"]) if query.get("offset", "").isdigit() else 0
    form = (
        '<form class="filters" method="get" action="/search" role="search">'
        f'<label>Words <input name="q" type="search" value="{esc(text)}" placeholder="e.g. password'
        ' reset"></label>'
        '<button type="submit">Search</button></form>'
    )
    if not text:
        results = '<p class="empty">Type words to find the messages that contain them all.</p>'
    else:
        results = _results(text, store.search(text, limit=PAGE_SIZE, offset=offset), offset)
    title = f"Search: {text}" if text else "Search"
    body = f"<h1>Search messages</h1>{form}{results}"
    return Page(200, layout(title, body, "search", search=text))


def _results(text: str, found: SearchResults, offset: int) -> str:
    hits, total = found.hits, found.total
    if not total:
        return f'<p class="empty">No message contains {esc(text)!s}.</p>'
    items = "".join(_hit(h) for h in hits)
    summary = f"{'more than ' if found.more else ''}{count(total)} message{'s' if total != 1 else ''} match"
    if found.ranked_among:
        summary += f"; the newest {count(found.ranked_among)} ranked, best first"
    else:
        summary += ", best first"
    if total > PAGE_SIZE:
        summary += f" (showing {offset + 1}-{offset + len(hits)})"
    pager = []
    if offset:
        pager.append(
            f'<a href="{href("/search", {"q": text, "offset": max(0, offset - PAGE_SIZE) or None})}">'
            "‹ Better matches</a>"
        )
    if hits and offset + len(hits) < min(total, found.ranked_among or total):
        pager.append(
            f'<a rel="next" href="{href("/search", {"q": text, "offset": offset + PAGE_SIZE})}">'
            "More matches ›</a>"
        )
    nav = f'<nav class="pager" aria-label="Result pages">{"".join(pager)}</nav>' if pager else ""
    return f'<p class="summary-line">{summary}</p><ol class="hits">{items}</ol>{nav}'


def _hit(hit: SearchHit) -> str:
    snippet = esc(hit.snippet).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    return (
        f'<li class="hit" data-session-id="{esc(hit.session_id)}" data-index="{hit.index}">'
        f'<a class="hit-link" href="{session_href(hit.session_id, hit.index)}">'
        f'<span class="id">{esc(hit.session_id)}</span> #{hit.index}</a>'
        f' <span class="sub">{esc(hit.role)} · {time_cell(hit.create_time)} · user</span>'
        f" {user_link(hit.user_id)}"
        f'<p class="snippet">{snippet}</p></li>'
    )
