"""One session's page: its details, its transcript, and what conflicted.

Live updates send only the messages that changed (new, or given feedback or a conflict) since
the version the browser shows, never the whole transcript again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ... import events as ev
from ..models import Message, MessageConflict, SessionDetail
from ..store import Store
from .layout import (
    Page,
    esc,
    feedback_badges,
    layout,
    meta_list,
    not_found,
    plain_time,
    props,
    status_badge,
    time_cell,
    user_link,
)

META_REGION, EXTRA_REGION = "session-meta", "session-extra"


def session_page(store: Store, session_id: str, query: Mapping[str, str] | None = None) -> Page:
    """The page of one session; with ``since`` (a store version) in ``query``, only the
    messages that changed after it are rendered (for live updates)."""
    version = store.version()
    session = store.session(session_id)
    if session is None:
        return not_found(f"No session {session_id!r} has been received.")
    conflicts: dict[int, list[MessageConflict]] = {}
    for c in session.conflicts:
        conflicts.setdefault(c.index, []).append(c)
    regions = {META_REGION: _meta(session), EXTRA_REGION: _extra(session)}
    since = (query or {}).get("since", "")
    if since.isdigit():
        changed = store.changed_messages(session_id, int(since))
        shown = [m for m in session.messages if changed is None or m.index in changed]
        messages = [message_item(m, conflicts.get(m.index, ())) for m in shown]
        return Page(200, "", regions, messages=messages, version=version)
    transcript = "".join(message_item(m, conflicts.get(m.index, ())) for m in session.messages)
    title = session.title or session.session_id
    body = (
        '<p class="crumbs"><a href="/sessions">Sessions</a> ›</p>'
        f'<h1>Session <span class="id">{esc(title)}</span></h1>'
        f'<div id="{META_REGION}" data-live-region>{regions[META_REGION]}</div>'
        '<h2 class="visually-hidden">Transcript</h2>'
        f'<ol class="transcript" id="transcript">{transcript}</ol>'
        f'<div id="{EXTRA_REGION}" data-live-region>{regions[EXTRA_REGION]}</div>'
    )
    return Page(
        200, layout(f"Session {title}", body, "sessions", live_version=version), regions, version=version
    )


def _meta(session: SessionDetail) -> str:
    meta = [
        ("User", user_link(session.user_id)),
        ("Assistant", esc(session.assistant_id or "—")),
        ("Status", status_badge(session.status(time.time()))),
        ("Started", time_cell(session.start_time)),
        ("Last activity", time_cell(session.last_activity)),
    ]
    if session.close_time is not None:
        meta.append(("Closed", time_cell(session.close_time)))
    meta.append(("Messages", str(session.message_count)))
    if session.conflict_count:
        meta.append(
            (
                "Conflicts",
                f'<span class="conflict">{session.conflict_count} message'
                f"{'s' if session.conflict_count != 1 else ''} received again with other content</span>"
                ' <span class="sub">the first version is kept; the others are shown under it</span>',
            )
        )
    if session.custom_properties:
        meta.append(("Properties", props(session.custom_properties)))
    if session.session_feedback:
        meta.append(("Session feedback", feedback_badges(session.session_feedback)))
    return meta_list(meta)


def _extra(session: SessionDetail) -> str:
    parts = []
    if not session.messages:
        parts.append('<p class="empty">No messages received for this session (yet).</p>')
    if session.unmatched_feedback:
        items = "".join(
            f"<li>{feedback_badges([f])} on message #{f.message_index} (not received)</li>"
            for f in session.unmatched_feedback
        )
        parts.append(
            f'<section class="unmatched"><h2>Feedback on missing messages</h2><ul>{items}</ul></section>'
        )
    return "".join(parts)


def message_item(m: Message, conflicts: list[MessageConflict] | tuple[()] = ()) -> str:
    """One message of the transcript, with its properties, feedback and conflicting versions."""
    role = m.role if m.role in ev.ROLES else "other"
    extras = ""
    if m.custom_properties:
        extras += props(m.custom_properties)
    if m.feedback:
        extras += feedback_badges(m.feedback)
    versions = ""
    if conflicts:
        quoted = "".join(
            f"<p>{esc(c.role)}, event <span class=id>{esc(c.event_id)}</span>, received"
            f" {plain_time(c.received_at)} UTC:</p><blockquote>{esc(c.content)}</blockquote>"
            for c in conflicts
        )
        versions = (
            f'<details class="versions"><summary><span class="conflict">conflict</span> received again'
            f" {len(conflicts)} time{'s' if len(conflicts) != 1 else ''} with other content"
            f" (kept the first)</summary>{quoted}</details>"
        )
        role += " has-conflict"
    return (
        f'<li class="message {role}" id="m{m.index}" data-index="{m.index}">'
        f'<div class="head"><span class="role">{esc(m.role)}</span> <a href="#m{m.index}">#{m.index}</a>'
        f" {time_cell(m.create_time)}</div>"
        f'<div class="content">{esc(m.content)}</div>'
        + (f'<div class="extras">{extras}</div>' if extras else "")
        + versions
        + "</li>"
    )
