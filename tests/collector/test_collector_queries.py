"""Session lists: keyset paging in both sorts and directions, filters, and what changed since a version."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from collector_helpers import message, message_feedback, session_close, session_open
from test_collector_store import _checked

from align_instrument.collector import Store
from align_instrument.collector.queries import SessionFilter
from align_instrument.wire import format_timestamp

T0 = 1_795_700_000.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    rng = random.Random(3)
    store = Store(tmp_path / "q.db")
    events = []
    for i in range(37):
        sid = f"s{i:02d}"
        at = T0 + i * 60
        events.append(session_open(sid, f"u{i % 4}", at=format_timestamp(at)))
        for index in range(1, rng.randint(1, 6) + 1):
            events.append(
                message(
                    sid,
                    index,
                    "user" if index % 2 else "assistant",
                    f"text {i} {index}",
                    at=format_timestamp(at + index),
                )
            )
        if i % 5 == 0:
            events.append(message_feedback(sid, 1, "thumbs_down", at=format_timestamp(at + 30)))
        if i % 3 == 0:
            events.append(session_close(sid, at=format_timestamp(at + 40)))
    store.ingest("r", _checked(events))
    return store


def _walk(store: Store, filters: SessionFilter, sort: str, descending: bool) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = store.session_page(filters, sort, descending, after=after, limit=5)
        seen += [s.session_id for s in page.sessions]
        assert page.total == len(store.sessions(user_id=filters.user_id, feedback=filters.feedback))
        if page.next_cursor is None:
            return seen
        after = page.next_cursor


@pytest.mark.parametrize("sort", ["last_activity", "messages"])
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_visit_every_session_once_in_order(store: Store, sort: str, descending: bool) -> None:
    everything = store.sessions()
    key = (
        (lambda s: (s.last_activity, s.session_id))
        if sort == "last_activity"
        else (lambda s: (s.message_count, s.session_id))
    )
    expected = [s.session_id for s in sorted(everything, key=key, reverse=descending)]
    assert _walk(store, SessionFilter(), sort, descending) == expected


def test_previous_cursor_walks_back_to_the_first_page(store: Store) -> None:
    first = store.session_page(limit=5)
    second = store.session_page(after=first.next_cursor, limit=5)
    third = store.session_page(after=second.next_cursor, limit=5)
    assert first.previous_cursor is None and second.previous_cursor is not None
    back = store.session_page(before=third.previous_cursor, limit=5)
    assert [s.session_id for s in back.sessions] == [s.session_id for s in second.sessions]
    again = store.session_page(before=back.previous_cursor, limit=5)
    assert [s.session_id for s in again.sessions] == [s.session_id for s in first.sessions]
    assert again.previous_cursor is None


def test_filters_combine(store: Store) -> None:
    by_user = _walk(store, SessionFilter(user_id="u1"), "last_activity", True)
    assert by_user and all(store.session(sid).user_id == "u1" for sid in by_user)  # type: ignore[union-attr]
    down = _walk(store, SessionFilter(feedback="thumbs_down", user_id="u0"), "messages", True)
    assert sorted(down) == ["s00", "s20"]  # u0 has s00, s04, ... and every fifth has thumbs down
    closed = store.session_page(SessionFilter(status="closed"), limit=100).sessions
    assert {s.session_id for s in closed} == {f"s{i:02d}" for i in range(0, 37, 3)}
    assert store.session_page(SessionFilter(status="live"), limit=100).total == 0  # all in 2026-11, long idle
    window = store.session_page(SessionFilter(since=T0 + 600, until=T0 + 1200), limit=100).sessions
    assert {s.session_id for s in window} == {f"s{i:02d}" for i in range(10, 21)}
    text = store.session_page(SessionFilter(text="text 12"), limit=100).sessions
    assert [s.session_id for s in text] == ["s12"]
    assert [s.session_id for s in store.session_page(SessionFilter(text="s07"), limit=9).sessions] == ["s07"]
    with pytest.raises(ValueError, match="status must be"):
        store.session_page(SessionFilter(status="sleeping"))
    with pytest.raises(ValueError, match="not a page cursor"):
        store.session_page(after="garbage")


def test_preview_is_the_first_user_message_by_index_whatever_the_arrival_order(tmp_path: Path) -> None:
    with Store(tmp_path / "p.db") as store:
        store.ingest("r1", _checked([message("s", 3, "user", "later question")]))
        assert store.sessions()[0].preview == "later question"
        store.ingest(
            "r2",
            _checked([message("s", 2, "assistant", "answer"), message("s", 1, "user", "first question")]),
        )
        summary = store.sessions()[0]
        assert summary.preview == "first question" and summary.message_count == 3


def test_changed_messages_since_a_version(store: Store) -> None:
    version = store.version()
    assert store.changed_messages("s01", version) == set()
    store.ingest("r2", _checked([message("s01", 50, content="new"), message_feedback("s01", 1, "thumbs_up")]))
    assert store.changed_messages("s01", version) == {1, 50}
    assert store.changed_messages("s02", version) == set()
    assert store.version() == version + 2
