"""Full-text search over message texts (SQLite FTS5), ranked by BM25, with snippets.

What a person types is turned into an FTS5 query of quoted words (all must occur), so that
punctuation, quotes or FTS operators in it never make a syntax error; a trailing ``*`` on a word
keeps its meaning of "starts with".

Messages are indexed after they are stored, off the ingest path (:func:`index_pending`, run by
the store's indexer thread when ingestion pauses, and before every search), so that indexing
does not slow a burst of ingestion down and a search always sees every stored message.

Ranking is BM25 among the newest 20,000 matches: a word found in most messages is answered
about as fast as a rare one.
"""

from __future__ import annotations

import re
import sqlite3

from .models import MARK_END, MARK_START, SearchHit, SearchResults

SNIPPET_TOKENS = 16
COUNT_UP_TO = 100_000  # matches counted exactly; beyond, "more than 100,000"
RANK_UP_TO = 20_000  # matches ranked by relevance: the newest ones
_WORD = re.compile(r"\w+\*?")


INDEX_CHUNK = 20_000  # messages indexed per transaction (the writer lock is released in between)


def index_pending(conn: sqlite3.Connection) -> int:
    """Index (a chunk of) the stored messages not indexed yet; returns how many were indexed.

    ``conn`` is the writer, held under the store's write lock.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = conn.execute("SELECT indexed_rowid FROM search_state").fetchone()[0]
        last = conn.execute(
            "SELECT max(rowid) FROM (SELECT rowid FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ?)",
            (done, INDEX_CHUNK),
        ).fetchone()[0]
        if last is None:
            conn.execute("ROLLBACK")
            return 0
        indexed = conn.execute(
            "INSERT INTO messages_fts (rowid, content) SELECT rowid, content FROM messages"
            " WHERE rowid > ? AND rowid <= ?",
            (done, last),
        ).rowcount
        conn.execute("UPDATE search_state SET indexed_rowid = ?", (last,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(indexed)


def pending(conn: sqlite3.Connection) -> bool:
    """Some stored messages are not indexed yet."""
    done = conn.execute("SELECT indexed_rowid FROM search_state").fetchone()[0]
    last = conn.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    return bool(last > done)


def fts_query(text: str) -> str:
    """The FTS5 query that finds messages containing every word of ``text``; "" when none.

    Example:
        >>> fts_query('reset "password" OR pass*')
        '"reset" "password" "OR" "pass"*'
    """
    terms = []
    for word in _WORD.findall(text):
        prefix = word.endswith("*")
        word = word.rstrip("*")
        terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms)


def search(conn: sqlite3.Connection, text: str, limit: int = 20, offset: int = 0) -> SearchResults:
    """The best-ranked messages matching ``text``; see :meth:`Store.search`."""
    query = fts_query(text)
    if not query:
        return SearchResults([], 0, False, None)
    conn.execute("BEGIN")  # one snapshot: the count, the cut-off and the hits agree
    try:
        total = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?)",
            (query, COUNT_UP_TO + 1),
        ).fetchone()[0]
        # BM25 costs per matching message: a word in most messages would take seconds to rank.
        # Rank the newest RANK_UP_TO matches only (rowids grow with arrival).
        cutoff = conn.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
            (query, RANK_UP_TO - 1),
        ).fetchone()
        floor = cutoff[0] if cutoff is not None else None
        rows = conn.execute(
            "SELECT m.session_id, m.message_index, m.role, m.create_time,"
            f" snippet(messages_fts, 0, ?, ?, '…', {SNIPPET_TOKENS}), s.user_id"
            " FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid"
            " LEFT JOIN sessions s ON s.session_id = m.session_id"
            " WHERE messages_fts MATCH ? AND messages_fts.rowid >= ? ORDER BY rank LIMIT ? OFFSET ?",
            (MARK_START, MARK_END, query, floor if floor is not None else -(2**63), limit, offset),
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    return SearchResults(
        [SearchHit(*row) for row in rows],
        min(total, COUNT_UP_TO),
        total > COUNT_UP_TO,
        RANK_UP_TO if floor is not None else None,
    )
