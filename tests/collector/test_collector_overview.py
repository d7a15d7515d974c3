"""The overview's numbers, read from the rollups, equal a count over the sessions themselves,
under any arrival order (late earlier events, session_open after the messages)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from collector_helpers import message, message_feedback, session_feedback, session_open
from test_collector_store import _checked

from align_instrument.collector import Store
from align_instrument.collector.rollups import BINS, bin_of
from align_instrument.wire import format_timestamp

T0 = 1_795_700_000.0 - 1_795_700_000.0 % 86400  # a UTC midnight


def _events(rng: random.Random) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for i in range(30):
        sid = f"s{i}"
        start = T0 + rng.uniform(0, 5 * 86400)
        events.append(session_open(sid, f"u{rng.randint(0, 5)}", at=format_timestamp(start)))
        for index in range(1, rng.randint(0, 12) + 1):
            events.append(message(sid, index, at=format_timestamp(start + rng.uniform(-3600, 7200))))
        if rng.random() < 0.5:
            kind = rng.choice(["thumbs_up", "thumbs_down"])
            events.append(message_feedback(sid, 1, kind, at=format_timestamp(start + 100)))
    events.append(session_feedback("s3", "thumbs_up", at=format_timestamp(T0 + 100)))
    return events


def _brute(store: Store, since: float, until: float) -> dict[str, object]:
    sessions = [s for s in store.sessions() if since <= s.first_activity < until]
    return {
        "sessions": len(sessions),
        "users": len({s.user_id for s in sessions}),
        "distribution": Counter(bin_of(s.message_count) for s in sessions),
        "top": sorted(
            (
                (
                    u,
                    sum(1 for s in sessions if s.user_id == u),
                    sum(s.message_count for s in sessions if s.user_id == u),
                )
                for u in {s.user_id for s in sessions}
            ),
            key=lambda t: (-t[2], -t[1], t[0]),
        ),
    }


def test_rollups_match_a_brute_force_count_under_any_arrival_order(tmp_path: Path) -> None:
    events = _events(random.Random(11))
    rng = random.Random(5)
    for attempt in range(3):
        shuffled = events[:]
        rng.shuffle(shuffled)
        with Store(tmp_path / f"o{attempt}.db") as store:
            for start in range(0, len(shuffled), 7):  # small batches: sessions change across batches
                store.ingest(f"r{start}", _checked(shuffled[start : start + 7]))
            for since, until in (
                (None, None),
                (T0 + 86400, T0 + 3 * 86400 - 1),
                (T0 + 86400, T0 + 86400 + 3600 * 30),
            ):
                view = store.overview(since, until)
                expected = _brute(store, view.since, view.until)
                assert view.sessions == expected["sessions"] == sum(b.sessions for b in view.buckets)
                assert view.users == expected["users"]
                assert dict(view.distribution) == {
                    label: expected["distribution"].get(i, 0)  # type: ignore[attr-defined]
                    for i, label in enumerate(label for label, _ in view.distribution)
                }
                assert [(u.user_id, u.sessions, u.messages) for u in view.top_users] == expected["top"][:10]  # type: ignore[index]
            everything = store.overview()
            assert everything.messages == sum(s.message_count for s in store.sessions())
            assert everything.thumbs_up + everything.thumbs_down == sum(
                s.thumbs_up + s.thumbs_down for s in store.sessions()
            )
            assert everything.bucket_seconds == 86400 and len(everything.distribution) == len(BINS)


def test_hourly_buckets_for_short_ranges_and_an_empty_database(tmp_path: Path) -> None:
    with Store(tmp_path / "e.db") as store:
        empty = store.overview()
        assert empty.empty and empty.sessions == 0 and empty.bucket_seconds == 3600 and empty.buckets
        store.ingest(
            "r",
            _checked(
                [
                    session_open("s", "u", at=format_timestamp(T0 + 5400)),
                    message("s", 1, at=format_timestamp(T0 + 5500)),
                ]
            ),
        )
        one = store.overview()
        assert not one.empty and one.bucket_seconds == 3600
        assert [(b.start, b.sessions, b.users, b.messages) for b in one.buckets] == [(T0 + 3600, 1, 1, 1)]
        far = store.overview(since=0.0, until=T0)  # decades: wider bars, never a million of them
        assert len(far.buckets) <= 1001 and far.bucket_seconds % 86400 == 0
