"""Full-text search: every word must occur, ranked, snippets marked, any typed text is safe."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_helpers import message, session_open
from test_collector_store import _checked

from align_instrument.collector import Store, search
from align_instrument.collector.models import MARK_END, MARK_START


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "s.db")
    store.ingest(
        "r",
        _checked(
            [
                session_open("a", "ada"),
                message("a", 1, "user", "How do I reset my password?"),
                message(
                    "a", 2, "assistant", "Open Settings, then Password, then Reset. Password reset done."
                ),
                message("b", 1, "user", "The café serves crème brûlée"),
                message("b", 2, "assistant", "<b>bold</b> & password"),
            ]
        ),
    )
    return store


def test_all_words_must_occur_and_the_best_match_comes_first(store: Store) -> None:
    found = store.search("password reset")
    assert [(h.session_id, h.index) for h in found.hits] == [("a", 2), ("a", 1)]
    assert found.total == 2 and not found.more and found.ranked_among is None
    assert found.hits[1].user_id == "ada" and found.hits[1].role == "user"
    assert f"{MARK_START}password{MARK_END}" in found.hits[1].snippet
    assert store.search("password").total == 3


def test_diacritics_case_and_prefixes(store: Store) -> None:
    assert [h.session_id for h in store.search("CREME brulee").hits] == ["b"]
    assert store.search("passw").total == 0
    assert store.search("passw*").total == 3


@pytest.mark.parametrize(
    "typed", ['"', "AND", "OR (", "NEAR(a b)", "*", "col:thing", "'; DROP TABLE messages; --", ""]
)
def test_any_typed_text_is_a_query_never_an_error(store: Store, typed: str) -> None:
    found = store.search(typed)
    assert found.total >= 0
    assert store.search("password").total == 3  # nothing dropped


def test_fts_query_quotes_words() -> None:
    assert search.fts_query('reset "pass" OR x*') == '"reset" "pass" "OR" "x"*'
    assert search.fts_query("  !! ") == ""


def test_a_very_common_word_ranks_its_newest_matches_only(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "RANK_UP_TO", 2)
    monkeypatch.setattr(search, "COUNT_UP_TO", 2)
    found = store.search("password")
    assert found.ranked_among == 2 and found.more and found.total == 2
    assert {(h.session_id, h.index) for h in found.hits} == {("a", 2), ("b", 2)}  # the newest two
