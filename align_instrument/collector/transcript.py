"""A stored session as plain text, for terminals (``align-instrument show``, the demo)."""

from __future__ import annotations

import time
from typing import TextIO

from .models import SessionDetail


def print_transcript(session: SessionDetail, out: TextIO) -> None:
    """Write a session's header and transcript as plain text.

    Example:
        >>> print_transcript(store.session("s-1"), sys.stdout)
    """
    write = out.write
    write(f"Session {session.session_id}")
    if session.title:
        write(f" — {session.title}")
    write(f"\n  user: {session.user_id or '?'}   assistant: {session.assistant_id or '?'}")
    started = (
        f"{fmt_time(session.start_time)} UTC"
        if session.start_time is not None
        else "- (no session_open received for this session)"
    )
    write(f"   status: {session.status()}   started: {started}\n")
    if session.custom_properties:
        write(f"  properties: {_fmt_props(session.custom_properties)}\n")
    for f in session.session_feedback:
        write(f"  session feedback: {f.type}\n")
    write("\n")
    for m in session.messages:
        write(f"[{m.index}] {m.role}:")
        lines = m.content.splitlines() or [""]
        write(f" {lines[0]}\n")
        for line in lines[1:]:
            write(f"    {line}\n")
        if m.custom_properties:
            write(f"    properties: {_fmt_props(m.custom_properties)}\n")
        for f in m.feedback:
            write(f"    feedback: {f.type}\n")
    if not session.messages:
        write("(no messages)\n")
    for f in session.unmatched_feedback:
        write(f"feedback {f.type} on message #{f.message_index} (message not received)\n")


def fmt_time(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _fmt_props(props: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in props.items())
