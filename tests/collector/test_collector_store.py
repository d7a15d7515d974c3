"""The SQLite store: idempotency, atomicity, and the derived model under any arrival order."""

from __future__ import annotations

import logging
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import (
    conversation,
    identify,
    message,
    message_feedback,
    session_close,
    session_feedback,
    session_open,
    ts,
)

from align_instrument.collector import Store
from align_instrument.collector.validation import CheckedEvent, check_request


def _checked(events: list[dict[str, Any]]) -> list[CheckedEvent]:
    return check_request({"requestId": "r", "events": events}).events


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.db")


def test_database_uses_wal(store: Store) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_any_arrival_order_gives_the_same_model(tmp_path: Path) -> None:
    late = [message("s1", 5, "assistant", "late"), message_feedback("s1", 5, "thumbs_down")]
    events = [*conversation("s1", "u1"), *late]
    expected = None
    rng = random.Random(7)
    for attempt in range(6):
        shuffled = events[:]
        if attempt:
            rng.shuffle(shuffled)
        with Store(tmp_path / f"order-{attempt}.db") as store:
            # One event per request: the worst case for ordering.
            for i, e in enumerate(shuffled):
                store.ingest(f"r{i}", _checked([e]))
            session = store.session("s1")
            assert session is not None
            shape = (
                session.user_id,
                session.assistant_id,
                session.custom_properties,
                session.closed,
                session.start_time,
                session.first_activity,
                session.last_activity,
                [(m.index, m.role, m.content, [f.type for f in m.feedback]) for m in session.messages],
                [f.type for f in session.session_feedback],
                session.unmatched_feedback,
                (session.thumbs_up, session.thumbs_down),
                store.users(),
            )
        if expected is None:
            expected = shape
        assert shape == expected, f"order {attempt} differs"
    assert expected is not None
    assert [m[0] for m in expected[7]] == [1, 2, 3, 4, 5]
    assert expected[10] == (1, 2)


def test_message_before_its_session_open_and_feedback_before_its_message(store: Store) -> None:
    store.ingest("r1", _checked([message_feedback("s", 2, "thumbs_up")]))
    early = store.session("s")
    assert early is not None and early.user_id is None and early.messages == ()
    assert [f.message_index for f in early.unmatched_feedback] == [2]
    store.ingest("r2", _checked([message("s", 2, "assistant", "answer")]))
    store.ingest("r3", _checked([session_open("s", "u")]))
    session = store.session("s")
    assert session is not None and session.user_id == "u" and session.assistant_id == "bot"
    assert [f.type for f in session.messages[0].feedback] == ["thumbs_up"]
    assert session.unmatched_feedback == ()
    assert [u.user_id for u in store.users()] == ["u"]


def test_close_before_open_keeps_the_session_closed(store: Store) -> None:
    store.ingest("r1", _checked([session_close("s", at=ts(30))]))
    store.ingest("r2", _checked([session_open("s", "u", at=ts(1))]))
    session = store.session("s")
    assert session is not None and session.closed and session.status() == "closed"


def test_latest_identify_wins_by_create_time_not_by_arrival(store: Store) -> None:
    newer = identify("u", at=ts(20), display_name="New Name", email="new@example.com")
    older = identify("u", at=ts(10), display_name="Old Name", ip="1.2.3.4", country_code="FR")
    store.ingest("r1", _checked([newer]))
    store.ingest("r2", _checked([older]))
    user = store.user("u")
    assert user is not None
    # Latest wins per field; fields the latest does not set keep the earlier value.
    assert (user.display_name, user.email, user.ip, user.country_code) == (
        "New Name",
        "new@example.com",
        "1.2.3.4",
        "FR",
    )
    assert user.location == "FR"  # country code over ip
    assert user.last_identified == pytest.approx(
        check_request({"requestId": "x", "events": [newer]}).events[0].create_time
    )
    store.ingest("r3", _checked([identify("u", at=ts(30), display_name="Newest")]))
    user = store.user("u")
    assert user is not None and user.display_name == "Newest"


def test_ip_only_user_location_and_unknown_user(store: Store) -> None:
    store.ingest("r1", _checked([identify("u", ip="8.8.8.8")]))
    user = store.user("u")
    assert user is not None and user.location == "ip 8.8.8.8" and user.session_count == 0
    assert store.user("nobody") is None


def test_a_resent_index_keeps_the_first_version_and_records_the_conflict_logged_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="align_instrument.collector")
    store.ingest(
        "r1", _checked([session_open("s", "u"), message("s", 1, content="first version", at=ts(20))])
    )
    store.ingest("r2", _checked([message("s", 1, content="other app's text", at=ts(10))]))
    store.ingest(
        "r3", _checked([message("s", 1, content="first version", at=ts(30))])
    )  # same text: no conflict
    store.ingest("r4", _checked([message("s", 1, "assistant", "a third text", at=ts(40))]))
    session = store.session("s")
    assert session is not None
    assert [m.content for m in session.messages] == ["first version"]
    assert session.message_count == 1 and session.conflict_count == 2
    assert [(c.index, c.role, c.content) for c in session.conflicts] == [
        (1, "user", "other app's text"),
        (1, "assistant", "a third text"),
    ]
    warnings = [r.getMessage() for r in caplog.records if "received again" in r.getMessage()]
    assert len(warnings) == 1 and "'s'" in warnings[0] and "#1" in warnings[0]
    assert store.overview().conflicts == 2


def test_a_conflict_inside_one_batch_keeps_the_first_of_the_batch(store: Store) -> None:
    store.ingest("r", _checked([message("s", 2, content="one"), message("s", 2, content="two")]))
    session = store.session("s")
    assert session is not None and [m.content for m in session.messages] == ["one"]
    assert [c.content for c in session.conflicts] == ["two"] and session.message_count == 1


def test_idempotency_by_request_id_and_event_id(store: Store) -> None:
    events = _checked(conversation())
    first = store.ingest("batch", events)
    assert (first.stored, first.duplicate_events, first.duplicate_request) == (9, 0, False)
    again = store.ingest("batch", events)
    assert again.duplicate_request and again.stored == 0
    other = store.ingest("other-batch", events + events[:1])
    assert (other.stored, other.duplicate_events) == (0, 10)
    assert store.event_count() == 9 and store.request_count() == 2


def test_a_failing_request_leaves_nothing_behind(store: Store) -> None:
    good = _checked([session_open("s", "u"), message("s", 1)])
    # A message without a role passes the events insert and the session upsert, then breaks the
    # messages table's NOT NULL constraint: the write fails late in the transaction.
    broken = CheckedEvent(
        id="boom",
        type="message_create",
        project_id="p",
        create_time=None,
        raw={},
        session_id="s",
        message_index=2,
        role=None,
        content="x",
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.ingest("r1", [*good, broken])
    assert store.event_count() == 0 and store.request_count() == 0 and store.sessions() == []
    store.ingest("r1", good)  # the same requestId can be sent again after a failure
    assert store.event_count() == 2


def test_sessions_are_listed_newest_first_and_filtered(store: Store) -> None:
    store.ingest(
        "r",
        _checked(
            [
                session_open("old", "alice", at=ts(1)),
                session_open("mid", "bob", at=ts(2)),
                session_open("new", "alice", at=ts(3)),
                message_feedback("old", 1, "thumbs_up"),
                session_feedback("mid", "thumbs_down"),
            ]
        ),
    )
    assert [s.session_id for s in store.sessions()] == ["new", "mid", "old"]
    assert [s.session_id for s in store.sessions(user_id="alice")] == ["new", "old"]
    assert [s.session_id for s in store.sessions(feedback="thumbs_up")] == ["old"]
    assert [s.session_id for s in store.sessions(feedback="thumbs_down")] == ["mid"]
    assert [s.session_id for s in store.sessions(feedback="any")] == ["mid", "old"]
    assert [s.session_id for s in store.sessions(feedback="none")] == ["new"]
    assert [s.session_id for s in store.sessions(limit=1)] == ["new"]
    with pytest.raises(ValueError, match="feedback must be"):
        store.sessions(feedback="meh")
    # Most recently active first: bob's session has the latest event (its feedback).
    assert [(u.user_id, u.session_count) for u in store.users()] == [("bob", 1), ("alice", 2)]


def test_events_are_kept_as_received_in_arrival_order_and_survive_reopening(tmp_path: Path) -> None:
    events = conversation()
    with Store(tmp_path / "a.db") as store:
        store.ingest("r", _checked(events))
    with Store(tmp_path / "a.db") as reopened:
        assert reopened.events() == events
        assert reopened.events(limit=2) == events[:2]
        assert next(reopened.iter_raw_events()).startswith('{"id":')
        assert reopened.request_count() == 1


def test_session_status_live_idle_closed(store: Store) -> None:
    store.ingest("r", _checked([session_open("s", "u", at=ts(1))]))
    session = store.session("s")
    assert session is not None
    assert session.status(now=session.last_activity + 60) == "live"
    assert session.status(now=session.last_activity + 31 * 60) == "idle"


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ValueError, match="newer align-instrument"):
        Store(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1969-12-31T23:59:59.500Z", -0.5),
        ("1970-01-01T00:00:00Z", 0.0),
        ("2026-11-26T13:58:08.000001Z", 1795701488.000001),
        ("2026-11-26T15:58:08.25+02:00", 1795701488.25),
        ("0001-01-01T00:00:00Z", -62135596800.0),
    ],
)
def test_timestamps_parse_the_same_on_first_and_cached_reads(text: str, expected: float) -> None:
    def parsed() -> float | None:
        doc = message("s", 1, at=text)
        return check_request({"requestId": "r", "events": [doc]}).events[0].create_time

    assert parsed() == pytest.approx(expected, abs=1e-6)
    assert parsed() == pytest.approx(expected, abs=1e-6)  # now from the per-second cache
