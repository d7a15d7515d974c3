"""The users list and one user's page."""

from __future__ import annotations

from ..models import User
from ..queries import SessionFilter
from ..store import Store
from .layout import Page, esc, href, layout, meta_list, not_found, props, time_cell, user_link
from .sessions import sessions_table

MAX_USER_SESSIONS = 200


def users_page(store: Store) -> Page:
    """Every user, most recently active first."""
    users = store.users()
    if users:
        rows = "".join(
            "<tr>"
            f"<td>{user_link(u.user_id)}</td><td>{esc(u.display_name or '—')}</td>"
            f"<td>{esc(u.email or '—')}</td>"
            f"<td>{esc(u.location or '—')}</td><td class='num'>{u.session_count}</td>"
            "</tr>"
            for u in users
        )
        table = (
            '<div class="table-wrap"><table class="users"><thead><tr><th scope=col>User</th><th'
            " scope=col>Name</th>"
            '<th scope=col>Email</th><th scope=col>Location</th><th scope=col class="num">Sessions'
            "</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )
    else:
        table = '<p class="empty">No users yet.</p>'
    return Page(200, layout("Users", f"<h1>Users <small>{len(users):,}</small></h1>{table}", "users"))


def user_page(store: Store, user_id: str) -> Page:
    """One user's profile and latest sessions."""
    user = store.user(user_id)
    if user is None:
        return not_found(f"No user {user_id!r} has been received.")
    page = store.session_page(SessionFilter(user_id=user_id), limit=MAX_USER_SESSIONS)
    if page.sessions:
        table = sessions_table(page.sessions)
    else:
        table = '<p class="empty">No sessions for this user.</p>'
    more = ""
    if page.next_cursor:
        link = href("/sessions", {"user": user_id})
        more = f'<p><a href="{link}">All {page.total:,} sessions of this user</a></p>'
    name = user.display_name or user.user_id
    body = (
        '<p class="crumbs"><a href="/users">Users</a> ›</p>'
        f'<h1>User <span class="id">{esc(name)}</span></h1>{meta_list(_user_meta(user))}'
        f"<h2>Sessions <small>{page.total:,}</small></h2>{table}{more}"
    )
    return Page(200, layout(f"User {name}", body, "users"))


def _user_meta(user: User) -> list[tuple[str, str]]:
    meta = [("User id", f'<span class="id">{esc(user.user_id)}</span>')]
    if user.display_name:
        meta.append(("Name", esc(user.display_name)))
    if user.email:
        meta.append(("Email", esc(user.email)))
    if user.location:
        meta.append(("Location", esc(user.location)))
    if user.create_time is not None:
        meta.append(("Created", time_cell(user.create_time)))
    if user.custom_properties:
        meta.append(("Properties", props(user.custom_properties)))
    meta.append(
        (
            "Identified",
            time_cell(user.last_identified) if user.last_identified else "never (seen in sessions)",
        )
    )
    return meta
