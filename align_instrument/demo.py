"""``align-instrument demo``: the whole path on one machine, offline, in a few seconds.

Starts the local collector in this process, runs a short conversation with feedback through
:class:`~align_instrument.AlignClient`, then prints the transcript as the collector stored it and
the command that opens the web page.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from .client import AlignClient
from .collector.server import start_collector
from .events import FEEDBACK_THUMBS_DOWN, FEEDBACK_THUMBS_UP, ROLE_ASSISTANT, ROLE_USER

DEMO_USER_ID = "demo-user"

# A canned support conversation: the demo must run offline.
_TURNS = (
    ("How do I reset my password?", "Open Settings → Account → Reset password, then follow the e-mail link."),
    (
        "The e-mail never arrived.",
        "Check your spam folder; links expire after 30 minutes, so request a new one.",
    ),
    ("Found it, thanks!", "Glad it worked. Anything else I can help with?"),
)


def run_conversation(host: str) -> None:
    """Send one short conversation with feedback to the Align API at ``host``, and deliver it.

    This is the part of the demo that exercises the package; replace its body to show a more
    automatic path (e.g. ``autoinstrument()`` around an LLM client).

    Args:
        host: the collector's URL, e.g. ``http://127.0.0.1:8787``.

    Example:
        >>> run_conversation("http://127.0.0.1:8787")
    """
    # A new session id per run: several demos can share one database.
    session_id = time.strftime("demo-%Y%m%d-%H%M%S-", time.gmtime()) + os.urandom(3).hex()
    client = AlignClient(host=host)
    client.identify_user(DEMO_USER_ID, display_name="Demo User", email="demo@example.com", country_code="US")
    client.open_session(
        session_id, DEMO_USER_ID, assistant_id="support-bot", custom_properties={"plan": "pro"}
    )
    index = 0
    for question, answer in _TURNS:
        index += 1
        client.create_message(session_id, index, ROLE_USER, question)
        index += 1
        client.create_message(
            session_id, index, ROLE_ASSISTANT, answer, custom_properties={"model": "canned"}
        )
    client.create_message_feedback(session_id, 2, FEEDBACK_THUMBS_DOWN)
    client.create_message_feedback(session_id, 4, FEEDBACK_THUMBS_UP)
    client.create_session_feedback(session_id, FEEDBACK_THUMBS_UP)
    client.close_session(session_id)
    if not client.close(timeout_seconds=10):
        raise RuntimeError(f"the demo's events were not all delivered to {host}: {client.stats()}")


def run_demo(db_path: str | None = None) -> int:
    """Run the demo end to end; returns the exit status (0 on success).

    Args:
        db_path: where the collector stores events; a new temporary file when None (kept
            afterwards, so the web page can be opened on it).

    Example:
        >>> run_demo()
        0
    """
    from .cli import print_transcript  # the CLI imports this module lazily; no cycle at import time

    started = time.monotonic()
    if db_path is None:
        db_path = str(Path(tempfile.mkdtemp(prefix="align-demo-")) / "align-demo.db")
    _progress(f"[1/3] starting the local collector (database {db_path})")
    with start_collector(port=0, db_path=db_path) as collector:
        _progress(f"[2/3] running a conversation against {collector.url}")
        run_conversation(collector.url)
        _progress("[3/3] reading it back from the collector")
        # The newest session is the one just sent (an older database may hold earlier demos).
        newest = collector.store.sessions(limit=1)
        shown = [collector.store.session(s.session_id) for s in newest]
    _progress(f"done in {time.monotonic() - started:.1f} s\n")
    if not shown:
        print("align-instrument demo: the collector received no session", file=sys.stderr)
        return 1
    session = shown[0]
    if session is None:  # pragma: no cover - listed a moment ago, sessions are never deleted
        return 1
    print_transcript(session, sys.stdout)
    print()
    print("See it in the web page:")
    print(f"  align-instrument serve --db {db_path}")
    print(f"  then open http://127.0.0.1:8787/sessions/{quote(session.session_id, safe='')}")
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
