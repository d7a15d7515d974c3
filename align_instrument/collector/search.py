"""Full-text search over message texts (SQLite FTS5), ranked by BM25, with snippets.

What a person types is turned into an FTS5 query of quoted words (all must occur), so that
punctuation, quotes or FTS operators in it never make a syntax error; a trailing ``*`` on a word
keeps its meaning of "starts with".
"""

from __future__ import annotations

import re
import sqlite3

from .models import MARK_END, MARK_START, SearchHit

SNIPPET_TOKENS = 16
_WORD = re.compile(r"\w+\*?")


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


def search(
    conn: sqlite3.Connection, text: str, limit: int = 20, offset: int = 0
) -> tuple[list[SearchHit], int]:
    """The best-ranked messages matching ``text`` and how many match in all."""
    query = fts_query(text)
    if not query:
        return [], 0
    total = int(
        conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (query,)).fetchone()[0]
    )
    rows = conn.execute(
        "SELECT m.session_id, m.message_index, m.role, m.create_time,"
        f" snippet(messages_fts, 0, ?, ?, '…', {SNIPPET_TOKENS}), s.user_id"
        " FROM (SELECT rowid, rank FROM messages_fts WHERE messages_fts MATCH ?"
        " ORDER BY rank LIMIT ? OFFSET ?) hit"
        " JOIN messages_fts ON messages_fts.rowid = hit.rowid AND messages_fts MATCH ?"
        " JOIN messages m ON m.rowid = hit.rowid"
        " LEFT JOIN sessions s ON s.session_id = m.session_id"
        " ORDER BY hit.rank",
        (MARK_START, MARK_END, query, limit, offset, query),
    ).fetchall()
    return [SearchHit(*row) for row in rows], total
