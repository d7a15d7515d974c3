"""A large collector database, written straight into SQLite (posting a million events would take
minutes): sessions, messages and feedback rows as ingestion derives them, then the search index
and the rollups built by the collector's own migration SQL, so the result is what ingestion of
the same events would leave (without the raw ``events``/``requests`` rows, which no page reads).

Messages are 6-30 words drawn from a vocabulary of 4,000 made-up words with Zipf frequencies, so
words range from "in most messages" to "in a few hundred"; users are Zipf-active too.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from align_instrument.collector import Store, rollups
from align_instrument.collector.schema import PREVIEW_CHARS

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "re",
    "su",
    "ta",
    "ne",
    "vo",
    "pi",
    "da",
    "ge",
    "ru",
    "sha",
    "ti",
    "mo",
    "le",
    "zu",
    "ba",
    "ko",
    "fe",
]
SPAN_SECONDS = 90 * 86400
USERS = 5000


def vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    """Made-up words, most frequent first."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _zipf(n: int, exponent: float = 1.0) -> list[float]:
    total, cumulative = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / rank**exponent
        cumulative.append(total)
    return cumulative


def fill(path: Path, n_sessions: int, n_messages: int, seed: int = 1) -> list[str]:
    """Write the database at ``path``; returns the vocabulary, most frequent word first."""
    rng = random.Random(seed)
    Store(path).close()  # the schema, as the collector creates it
    words = vocabulary(rng)
    word_weights = _zipf(len(words))
    users = [f"user-{i:05d}" for i in range(USERS)]
    user_weights = _zipf(len(users), 0.8)
    counts = [max(1, int(rng.expovariate(n_sessions / n_messages))) for _ in range(n_sessions)]
    excess, i = sum(counts) - n_messages, 0
    while excess:  # exactly n_messages in all
        j = i % n_sessions
        if excess < 0:
            counts[j] += 1
            excess += 1
        elif counts[j] > 1:
            counts[j] -= 1
            excess -= 1
        i += 1
    now = time.time()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    sessions, messages, feedback = [], [], []
    for s in range(n_sessions):
        sid = f"s{s:06d}-{rng.getrandbits(32):08x}"
        start = now - SPAN_SECONDS * (1 - s / n_sessions) + rng.random() * 60
        at, preview = start, None
        for index in range(1, counts[s] + 1):
            at += rng.uniform(2, 40)
            text = (
                " ".join(rng.choices(words, cum_weights=word_weights, k=rng.randint(6, 30))).capitalize()
                + "."
            )
            role = "user" if index % 2 else "assistant"
            if preview is None and role == "user":
                preview = text[:PREVIEW_CHARS]
            messages.append((sid, index, role, text, None, at, f"m{s}-{index}"))
        up = down = 0
        if rng.random() < 0.2:
            up = int(rng.random() < 0.7)
            down = 1 - up
            kind = "thumbs_up" if up else "thumbs_down"
            feedback.append((f"f{s}", sid, "message", min(2, counts[s]), kind, at + 5))
        closed = at + 1 if rng.random() < 0.8 else None
        user = rng.choices(users, cum_weights=user_weights)[0]
        sessions.append(
            (sid, user, "bot", start, start, closed, start, closed or at, counts[s], up, down, preview)
        )
        if len(messages) > 50_000:
            conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", messages)
            messages.clear()
    conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", messages)
    conn.executemany(
        "INSERT INTO sessions (session_id, user_id, assistant_id, start_time, open_time, close_time,"
        " first_activity, last_activity, message_count, thumbs_up, thumbs_down, preview)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sessions,
    )
    conn.executemany("INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)", feedback)
    conn.executemany("INSERT INTO users (user_id) VALUES (?)", [(u,) for u in users])
    conn.executescript(rollups.BACKFILL)  # commits
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
    conn.execute("UPDATE search_state SET indexed_rowid = (SELECT max(rowid) FROM messages)")
    conn.execute("ANALYZE")
    conn.close()
    return words
