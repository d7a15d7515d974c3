"""The collector's web pages, rendered on the server; a small script keeps them live.

- ``/``: the overview: activity over time, feedback, messages per session, top users.
- ``/sessions``: sessions, filtered and sorted from the URL, paged by keyset.
- ``/sessions/<id>``: a session's transcript, feedback and conflicting versions.
- ``/search?q=``: messages containing words, ranked, with snippets linking into the session.
- ``/users`` and ``/users/<id>``: users and one user's profile and sessions.

With ``partial=1`` a live page answers with its live parts only (see :mod:`.live`).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from ..store import Store
from .layout import Page, not_found
from .live import LIVE_JS
from .overview import overview_page
from .search import search_page
from .session import session_page
from .sessions import sessions_page
from .users import user_page, users_page

__all__ = [
    "LIVE_JS",
    "Page",
    "overview_page",
    "render",
    "search_page",
    "session_page",
    "sessions_page",
    "user_page",
    "users_page",
]


def render(store: Store, path: str, query: Mapping[str, str]) -> Page:
    """Render the page at ``path`` (still percent-encoded) with its query parameters.

    Example:
        >>> render(store, "/sessions/s-1", {}).status
        200
    """
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if not parts:
        return overview_page(store, query)
    if parts == ["sessions"]:
        return sessions_page(store, query)
    if parts[0] == "sessions" and len(parts) == 2:
        return session_page(store, parts[1], query if query.get("partial") else None)
    if parts == ["search"]:
        return search_page(store, query)
    if parts == ["users"]:
        return users_page(store)
    if parts[0] == "users" and len(parts) == 2:
        return user_page(store, parts[1])
    return not_found(f"No page at {path}.")
