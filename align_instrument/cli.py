"""``align-instrument``: run the local collector and read what it stored.

Subcommands::

    align-instrument serve [--host 127.0.0.1] [--port 8787] [--db align.db] [--api-key KEY]
    align-instrument llm [--port 8788]
    align-instrument sessions [--user U] [--feedback F] [--db align.db]
    align-instrument show SESSION_ID [--db align.db]
    align-instrument export --format jsonl [--db align.db] [--output FILE]
    align-instrument demo [--db PATH]
    align-instrument --version
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from . import __version__
from .collector.server import DEFAULT_MAX_BODY_BYTES, start_collector
from .collector.store import Store
from .collector.transcript import fmt_time, print_transcript
from .transport import is_loopback

DEFAULT_DB = "align.db"
DEFAULT_PORT = 8787
DEFAULT_LLM_PORT = 8788


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``align-instrument`` command line; returns the exit status.

    Example:
        >>> main(["sessions", "--db", "align.db"])
        0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `align-instrument export | head`
        sys.stderr.close()
        return 0
    return status


class _Parser(argparse.ArgumentParser):
    """Bad arguments give one line (what was wrong, and where to read more), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="align-instrument",
        description="The local Align collector: receive, store and show what align_instrument sends.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the local collector (ingestion API + web page)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback 127.0.0.1)")
    serve.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    _db_option(serve)
    serve.add_argument(
        "--api-key",
        default=None,
        help="require this bearer token on ingestion (default: $ALIGNAI_API_KEY, else no check)",
    )
    serve.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_BYTES / (1024 * 1024),
        help="largest accepted request body in MiB, after decompression (default 16)",
    )
    serve.set_defaults(run=_serve)

    llm = sub.add_parser(
        "llm", help="run the local OpenAI-compatible endpoint (deterministic replies, no key, offline)"
    )
    llm.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_LLM_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_LLM_PORT}; 0 = any)",
    )
    llm.set_defaults(run=_llm)

    sessions = sub.add_parser("sessions", help="list stored sessions, newest first")
    sessions.add_argument("--user", default=None, help="only this user's sessions")
    sessions.add_argument(
        "--feedback",
        choices=["thumbs_up", "thumbs_down", "any", "none"],
        default=None,
        help="filter by feedback",
    )
    _db_option(sessions)
    sessions.set_defaults(run=_sessions)

    show = sub.add_parser("show", help="print a session's transcript")
    show.add_argument("session_id", help="the session to print (see `align-instrument sessions`)")
    _db_option(show)
    show.set_defaults(run=_show)

    export = sub.add_parser("export", help="print every stored event as received, one per line")
    export.add_argument(
        "--format", choices=["jsonl"], default="jsonl", help="output format (jsonl: one JSON event a line)"
    )
    export.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    _db_option(export)
    export.set_defaults(run=_export)

    demo = sub.add_parser("demo", help="run a short conversation through the collector and show it")
    demo.add_argument("--db", default=None, help="database file (default: a new file in a temp directory)")
    demo.set_defaults(run=_demo)
    return parser


def port_number(text: str) -> int:
    """argparse type of ``--port``: an int from 0 to 65535 (0: any free port).

    Example:
        >>> port_number("8787")
        8787
    """
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 65535 (got {text!r})") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535 (got {port})")
    return port


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, help=f"SQLite database file (default {DEFAULT_DB})")


# --- serve ----------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get("ALIGNAI_API_KEY") or None
    try:
        collector = start_collector(
            host=args.host,
            port=args.port,
            db_path=args.db,
            api_key=api_key,
            max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        )
    except (sqlite3.Error, ValueError) as exc:
        print(f"align-instrument: cannot open the database {args.db!r}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"align-instrument: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    # Refused requests are logged (never their Authorization header), so a user sees why.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    collector_logger = logging.getLogger("align_instrument.collector")
    collector_logger.addHandler(handler)
    collector_logger.setLevel(logging.INFO)
    with collector:
        print(f"Align local collector on {collector.url}  (database: {Path(args.db).resolve()})")
        print(f"  web page:  {collector.url}/")
        print(f'  send to:   AlignClient(host="{collector.url}")  or  ALIGNAI_HOST={collector.url}')
        print(f"  auth:      {'bearer token required' if api_key else 'none (any key accepted)'}")
        if not is_loopback(collector.url):
            print("  warning:   not loopback: anyone who can reach this address can read the web page")
        _run_until_stopped()
    return 0


def _llm(args: argparse.Namespace) -> int:
    from .local_llm import start_local_llm

    try:
        llm = start_local_llm(port=args.port)
    except OSError as exc:
        print(
            f"align-instrument: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    with llm:
        print(f"Local OpenAI-compatible endpoint on {llm.base_url}  (deterministic replies, no key checked)")
        print(f"  point an app at it:  OPENAI_BASE_URL={llm.base_url}  (any OPENAI_API_KEY, e.g. 'local')")
        print("  with the collector:  ALIGNAI_HOST=http://127.0.0.1:8787  (`align-instrument serve`)")
        _run_until_stopped()
    return 0


def _run_until_stopped() -> None:
    """Serve (in the background threads already started) until Ctrl-C or SIGTERM."""
    print("Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopped.")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# --- reading the database -------------------------------------------------------------------------------


def _open_existing(db: str) -> Store | None:
    if not Path(db).is_file():
        print(
            f"align-instrument: no database at {db!r};"
            f" run `align-instrument serve --db {db}` and send events to it first",
            file=sys.stderr,
        )
        return None
    try:
        return Store(db)
    except (sqlite3.Error, ValueError) as exc:
        print(f"align-instrument: cannot read {db!r}: {exc}", file=sys.stderr)
        return None


def _sessions(args: argparse.Namespace) -> int:
    store = _open_existing(args.db)
    if store is None:
        return 1
    with store:
        sessions = store.sessions(user_id=args.user, feedback=args.feedback)
    if not sessions:
        print("no sessions" + (" for this filter" if args.user or args.feedback else ""))
        return 0
    now = time.time()
    rows = [("SESSION", "USER", "ASSISTANT", "MSGS", "UP", "DOWN", "STATUS", "STARTED (UTC)")]
    for s in sessions:
        rows.append(
            (
                s.session_id,
                s.user_id or "?",
                s.assistant_id or "?",
                str(s.message_count),
                str(s.thumbs_up),
                str(s.thumbs_down),
                s.status(now),
                fmt_time(s.start_time if s.start_time is not None else s.first_activity),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _show(args: argparse.Namespace) -> int:
    store = _open_existing(args.db)
    if store is None:
        return 1
    with store:
        session = store.session(args.session_id)
    if session is None:
        print(f"align-instrument: no session {args.session_id!r} in {args.db}", file=sys.stderr)
        return 1
    print_transcript(session, sys.stdout)
    return 0


def _export(args: argparse.Namespace) -> int:
    store = _open_existing(args.db)
    if store is None:
        return 1
    with store:
        if args.output == "-":
            _write_jsonl(store, sys.stdout)
        else:
            with open(args.output, "w", encoding="utf-8") as out:
                _write_jsonl(store, out)
    return 0


def _write_jsonl(store: Store, out: TextIO) -> None:
    for raw in store.iter_raw_events():
        out.write(raw)
        out.write("\n")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(db_path=args.db)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
