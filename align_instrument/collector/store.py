"""The collector's SQLite database: one writer under a lock, a small pool of readers.

- Every accepted request is written in one transaction (WAL journal): a crash or kill never
  leaves half a batch. A request whose ``requestId`` was already stored, and any event whose
  ``id`` was already stored, are not stored again (see :mod:`.ingest`).
- Readers take connections from a small pool, so pages and tests read while a batch is being
  written. The queries live in :mod:`.queries`, :mod:`.search` and :mod:`.overview`; the tables
  and the migration of older databases in :mod:`.schema`.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import ingest, queries, search
from .models import (
    LIVE_WINDOW_SECONDS,
    Feedback,
    IngestResult,
    Message,
    MessageConflict,
    SearchHit,
    SearchResults,
    SessionDetail,
    SessionSummary,
    User,
)
from .overview import Overview, overview
from .queries import SessionFilter, SessionPage
from .schema import SCHEMA_VERSION, connect, prepare
from .validation import CheckedEvent

__all__ = [
    "LIVE_WINDOW_SECONDS",
    "SCHEMA_VERSION",
    "Feedback",
    "IngestResult",
    "Message",
    "MessageConflict",
    "SearchHit",
    "SearchResults",
    "SessionDetail",
    "SessionFilter",
    "SessionPage",
    "SessionSummary",
    "Store",
    "User",
]

_READER_POOL_SIZE = 8
_INDEX_IDLE_SECONDS = 0.5
logger = logging.getLogger("align_instrument.collector")


class Store:
    """The collector's SQLite database.

    Args:
        path: the database file; created with its tables when missing, migrated when older.
        busy_timeout: seconds to wait for another process's lock on the database.

    Raises:
        ValueError: the database was written by a newer version (a later schema).

    Example:
        >>> store = Store("align.db")
        >>> [s.session_id for s in store.sessions(user_id="u-1")]
        ['s-2', 's-1']
        >>> store.close()
    """

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._write_lock = threading.Lock()
        self._writer = connect(self.path, busy_timeout)
        try:
            prepare(self._writer, self.path)
        except BaseException:
            self._writer.close()
            raise
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._closed = False
        self._index_wanted = threading.Event()
        self._indexer: threading.Thread | None = None
        self._unindexed = 0

    def close(self) -> None:
        """Close every connection. The store cannot be used afterwards.

        Example:
            >>> store.close()
        """
        self._closed = True
        self._index_wanted.set()
        if self._indexer is not None and self._indexer is not threading.current_thread():
            self._indexer.join(timeout=5)
        with self._write_lock:
            self._writer.close()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = connect(self.path, self._busy_timeout)
        try:
            yield conn
        finally:
            if self._closed or self._readers.qsize() >= _READER_POOL_SIZE:
                conn.close()
            else:
                self._readers.put(conn)

    # --- writing ---------------------------------------------------------------------------------------

    def ingest(
        self,
        request_id: str,
        events: Sequence[CheckedEvent],
        encoding: str = "json",
        body: str | None = None,
    ) -> IngestResult:
        """Store one accepted request in one transaction, skipping what was already stored.

        A message for a (session, index) already stored keeps the stored one; when its role or
        content differs it is recorded as a conflict (shown on the session page) and logged once.

        Args:
            request_id: the request's ``requestId`` (the idempotency key of a batch).
            events: its checked events, in the order received.
            encoding: ``"json"`` or ``"proto"``, kept for the record.
            body: the request as received, as JSON text whose ``events`` array holds ``events`` in
                the same order (the server passes the decompressed JSON body); when None, it is
                built from the events' ``raw`` forms.

        Returns:
            How many events were stored and how many were duplicates.

        Example:
            >>> request = check_request(json.loads(body))
            >>> store.ingest(request.request_id, request.events).stored
            3
        """
        received_at = time.time()
        with self._write_lock:
            result = ingest.write_request(self._writer, request_id, events, encoding, body, received_at)
            if result.stored and self._indexer is None and not self._closed:
                self._indexer = threading.Thread(
                    target=self._index_loop, name="align-collector-index", daemon=True
                )
                self._indexer.start()
        if result.stored:
            self._unindexed += result.stored  # events, not messages: an upper bound is enough
            self._index_wanted.set()
        return result

    def index_pending(self) -> int:
        """Add the stored messages not indexed for search yet to the index; returns how many.

        An indexer thread does this when ingestion pauses for half a second (or every 20,000
        events under sustained load), off the requests' path, and :meth:`search` before it
        reads: nobody needs to call it.

        Example:
            >>> store.index_pending()
            0
        """
        total = 0
        while True:
            with self._write_lock:
                if self._closed:
                    return total
                indexed = search.index_pending(self._writer)
            if not indexed:
                return total
            total += indexed

    def _index_loop(self) -> None:
        while not self._closed:
            self._index_wanted.wait()
            # Index when ingestion pauses (it then never competes with a burst), or every
            # INDEX_CHUNK messages under sustained load so the backlog stays small.
            while not self._closed and self._unindexed < search.INDEX_CHUNK:
                self._index_wanted.clear()
                if not self._index_wanted.wait(_INDEX_IDLE_SECONDS):
                    break
            self._unindexed = 0
            try:
                self.index_pending()
            except sqlite3.Error as exc:  # locked by another process, disk full: retried next time
                logger.warning("collector: indexing messages for search failed (%s); will retry", exc)

    # --- reading ---------------------------------------------------------------------------------------

    def sessions(
        self, user_id: str | None = None, feedback: str | None = None, limit: int | None = None
    ) -> list[SessionSummary]:
        """Sessions, newest first (by start time, else first activity).

        Args:
            user_id: only this user's sessions.
            feedback: ``"thumbs_up"`` / ``"thumbs_down"``: only sessions with such feedback;
                ``"any"``: with any feedback; ``"none"``: without feedback.
            limit: at most this many.

        Raises:
            ValueError: ``feedback`` is not one of the values above.

        Example:
            >>> store.sessions(user_id="u-1", feedback="thumbs_down")
        """
        with self._reader() as conn:
            return queries.sessions(conn, SessionFilter(user_id=user_id, feedback=feedback), limit)

    def session_page(
        self,
        filters: SessionFilter | None = None,
        sort: str = "last_activity",
        descending: bool = True,
        after: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> SessionPage:
        """One page of sessions, paged by keyset (each page costs the same, however far).

        Args:
            filters: which sessions; all when None.
            sort: ``"last_activity"`` or ``"messages"`` (message count); ties by session id.
            descending: largest first.
            after: the ``next_cursor`` of the previous page.
            before: the ``previous_cursor`` of the next page (walks back).
            limit: sessions per page.

        Raises:
            ValueError: an unknown sort, filter value or cursor.

        Example:
            >>> page = store.session_page(SessionFilter(user_id="u-1"), limit=20)
            >>> later = store.session_page(SessionFilter(user_id="u-1"), after=page.next_cursor)
        """
        if filters is not None and filters.text:
            self._catch_up_index()
        with self._reader() as conn:
            return queries.session_page(
                conn, filters or SessionFilter(), sort, descending, after, before, limit
            )

    def session(self, session_id: str) -> SessionDetail | None:
        """One session with its messages (ordered by index), feedback and conflicts; None when unknown.

        Args:
            session_id: the session's id.

        Example:
            >>> [m.content for m in store.session("s-1").messages]
            ['Hi!', 'Hello, how can I help?']
        """
        with self._reader() as conn:
            return queries.session_detail(conn, session_id)

    def changed_messages(self, session_id: str, since: int) -> set[int] | None:
        """Indexes of a session's messages added, or given feedback or a conflict, since version
        ``since`` (see :meth:`version`); None when too much changed to say (re-read the session).

        Args:
            session_id: the session's id.
            since: a value :meth:`version` returned earlier.

        Example:
            >>> v = store.version()
            >>> ...  # a message and feedback arrive
            >>> store.changed_messages("s-1", v)
            {5, 6}
        """
        with self._reader() as conn:
            return queries.changed_indexes(conn, session_id, since)

    def search(self, text: str, limit: int = 20, offset: int = 0) -> SearchResults:
        """Messages containing every word of ``text`` (full-text), best match first.

        Args:
            text: words as typed; ``word*`` matches words starting with ``word``.
            limit: hits to return.
            offset: hits to skip (the next page of results).

        Returns:
            The hits (with highlighted snippets) and how many messages match. A word found in
            more than 20,000 messages is ranked among its newest 20,000 matches.

        Example:
            >>> found = store.search("password reset")
            >>> found.hits[0].session_id, found.hits[0].index
            ('s-1', 3)
        """
        self._catch_up_index()
        with self._reader() as conn:
            return search.search(conn, text, limit, offset)

    def _catch_up_index(self) -> None:
        """Index what is pending before a full-text read, so it sees every stored message."""
        with self._reader() as conn:
            behind = search.pending(conn)
        if behind:
            self.index_pending()

    def overview(self, since: float | None = None, until: float | None = None) -> Overview:
        """Activity over time, feedback, messages per session and top users in a time range.

        Args:
            since: the range's start (POSIX seconds); the first session's start when None.
            until: the range's end; the last activity when None.

        Example:
            >>> store.overview(since=time.time() - 86400).sessions
            12
        """
        with self._reader() as conn:
            return overview(conn, since, until)

    def version(self) -> int:
        """A number that grows whenever something is stored (the last event's sequence number).

        Example:
            >>> store.version()
            9
        """
        with self._reader() as conn:
            return int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def users(self) -> list[User]:
        """Every user identified or seen in a session, most recently active first.

        Example:
            >>> [u.user_id for u in store.users()]
            ['u-1']
        """
        with self._reader() as conn:
            return queries.users(conn)

    def user(self, user_id: str) -> User | None:
        """One user; None when neither identified nor seen in a session.

        Args:
            user_id: the user's id.

        Example:
            >>> store.user("u-1").display_name
            'Ada'
        """
        with self._reader() as conn:
            found = queries.users(conn, user_id)
        return found[0] if found else None

    def events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Raw events as received (proto3 JSON form), in arrival order.

        Args:
            limit: at most this many (the oldest).

        Example:
            >>> store.events()[0]["type"]
            'user_recognize'
        """
        return list(self.iter_events(limit))

    def iter_events(self, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Like :meth:`events`, without holding them all in memory (for export).

        Args:
            limit: at most this many (the oldest).

        Example:
            >>> next(store.iter_events())["id"]
            'c1dc3f69201311811'
        """
        for raw in self.iter_raw_events(limit):
            yield json.loads(raw)

    def iter_raw_events(self, limit: int | None = None) -> Iterator[str]:
        """The JSON text of each stored event, in arrival order (what ``export`` prints).

        Args:
            limit: at most this many (the oldest).

        Example:
            >>> for line in store.iter_raw_events():
            ...     print(line)
        """
        sql = "SELECT request_row, position FROM events ORDER BY seq"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (int(limit),)
        loaded_row: int | None = None
        request_events: list[dict[str, Any]] = []
        with self._reader() as conn:
            rows = conn.execute(sql, params).fetchall()
            for request_row, position in rows:
                if request_row != loaded_row:  # events of one request are consecutive
                    body = conn.execute(
                        "SELECT body FROM requests WHERE request_row = ?", (request_row,)
                    ).fetchone()
                    request_events = json.loads(body[0])["events"]
                    loaded_row = request_row
                yield ingest.encode_raw(request_events[position])

    def event_count(self) -> int:
        """How many events are stored.

        Example:
            >>> store.event_count()
            9
        """
        with self._reader() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def request_count(self) -> int:
        """How many requests were accepted and stored (a re-sent ``requestId`` counts once).

        Example:
            >>> store.request_count()
            1
        """
        with self._reader() as conn:
            return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
