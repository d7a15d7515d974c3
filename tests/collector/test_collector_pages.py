"""The web pages, fetched over HTTP from a running collector."""

from __future__ import annotations

import html
import re
import time
from typing import Any
from urllib.parse import quote

import pytest
import requests
from collector_helpers import (
    conversation,
    identify,
    message,
    message_feedback,
    post,
    request_body,
    session_open,
)

from align_instrument.collector import RunningCollector, pages
from align_instrument.wire import format_timestamp


def _get(collector: RunningCollector, path: str, status: int = 200) -> str:
    response = requests.get(collector.url + path, timeout=10)
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<script>" not in response.text  # no inline script: the CSP allows /static/live.js only
    return response.text


def _live(collector: RunningCollector, path: str) -> dict[str, Any]:
    sep = "&" if "?" in path else "?"
    response = requests.get(collector.url + path + sep + "partial=1", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    doc: dict[str, Any] = response.json()
    return doc


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="session" data-session-id="([^"]+)">', page)


def _now(offset: float = 0.0) -> str:
    return format_timestamp(time.time() + offset)


def test_empty_list_explains_how_to_send(collector: RunningCollector) -> None:
    page = _get(collector, "/sessions")
    assert "No sessions yet" in page and "127.0.0.1:8787" in page


def test_sessions_list_shows_counts_feedback_state_and_preview_most_recent_first(
    collector: RunningCollector,
) -> None:
    post(collector.url, request_body(conversation("older", "alice")))
    newer = [session_open("newer", "bob", at=_now()), message("newer", 1, content="Is it live?", at=_now())]
    post(collector.url, request_body(newer))
    page = _get(collector, "/sessions")
    rows = re.findall(r'<tr class="session" data-session-id="([^"]+)">(.*?)</tr>', page)
    assert [sid for sid, _ in rows] == ["newer", "older"]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[1][1])
    assert cells[3:6] == ["4", "1", "1"] and "closed" in cells[6]  # 4 messages, 1 up, 1 down
    assert 'class="preview"' in rows[1][1] and ">Hi<" in rows[1][1]  # the first user message
    new_cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1])
    assert new_cells[3:6] == ["1", "0", "0"] and "live" in new_cells[6]  # 0, never an empty cell
    assert all(c.strip() for c in new_cells)
    assert '<time class="ts"' in rows[0][1] and ".ts,.nowrap{white-space:nowrap}" in page
    assert '<meta http-equiv="refresh"' not in page and "data-live-version=" in page
    assert '<script src="/static/live.js" defer></script>' in page


def test_filters_sort_and_range_live_in_the_url(collector: RunningCollector) -> None:
    post(collector.url, request_body(conversation("s-alice", "alice") + conversation("s-bob", "bob")[1:3]))
    by_user = _get(collector, "/sessions?user=alice")
    assert _rows(by_user) == ["s-alice"] and 'value="alice"' in by_user
    assert _rows(_get(collector, "/sessions?feedback=thumbs_down")) == ["s-alice"]
    assert _rows(_get(collector, "/sessions?feedback=none")) == ["s-bob"]
    assert _rows(_get(collector, "/sessions?status=closed")) == ["s-alice"]
    assert _rows(_get(collector, "/sessions?status=idle")) == ["s-bob"]
    assert _rows(_get(collector, "/sessions?text=password")) == ["s-alice"]
    assert _rows(_get(collector, "/sessions?from=2026-11-26&to=2026-11-26")) == ["s-alice", "s-bob"]
    assert _rows(_get(collector, "/sessions?to=2026-11-25")) == []
    by_count = _get(collector, "/sessions?sort=messages")
    assert _rows(by_count) == ["s-alice", "s-bob"] and 'aria-sort="descending"' in by_count
    assert _rows(_get(collector, "/sessions?sort=messages&order=asc")) == ["s-bob", "s-alice"]
    assert "No session matches" in _get(collector, "/sessions?user=nobody")
    assert set(_rows(_get(collector, "/sessions?feedback=bogus&status=x&sort=y"))) == {"s-alice", "s-bob"}
    # The sort links keep the filters.
    filtered = _get(collector, "/sessions?user=alice&status=closed")
    assert "sort=messages" in filtered and "user=alice&amp;status=closed" in filtered


def test_keyset_paging_reaches_the_oldest_session(
    collector: RunningCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages.sessions, "PAGE_SIZE", 3)
    post(
        collector.url,
        request_body([session_open(f"s{i}", "u", at=f"2026-11-26T13:58:0{i}Z") for i in range(8)]),
    )
    path, seen = "/sessions?user=u", []
    while True:
        page = _get(collector, path)
        seen += _rows(page)
        assert "8 sessions" in page
        found = re.search(r'<a rel="next" class="next-page" href="([^"]+)"', page)
        if found is None:
            break
        path = html.unescape(found.group(1))
        assert "user=u" in path
    assert seen == [f"s{i}" for i in range(7, -1, -1)]
    previous = re.search(r'<a rel="prev" href="([^"]+)"', page)
    assert previous is not None and _rows(_get(collector, html.unescape(previous.group(1)))) == [
        "s4",
        "s3",
        "s2",
    ]
    assert _rows(_get(collector, "/sessions?after=nonsense")) == ["s7", "s6", "s5"]  # a bad cursor: page one


def test_session_page_shows_the_transcript_in_order_with_feedback_on_its_message(
    collector: RunningCollector,
) -> None:
    events = conversation("s1", "u1")
    post(collector.url, request_body(events[::-1]))  # arrival order must not matter
    page = _get(collector, "/sessions/s1")
    indexes = [int(i) for i in re.findall(r'<li class="message [a-z]+" id="m\d+" data-index="(\d+)"', page)]
    assert indexes == [1, 2, 3, 4]
    second = page.split('data-index="2"')[1].split("</li>")[0]
    assert "Hello! How can I help?" in second and "thumbs up" in second and "model" in second
    assert "Session feedback" in page and "thumbs down" in page
    assert all(
        "<" not in title for title in re.findall(r'title="([^"]*)"', page)
    )  # attributes hold text only
    assert "plan" in page and 'href="/users/u1"' in page
    assert '<meta http-equiv="refresh"' not in page  # closed: no reload


def test_everything_from_events_is_escaped(collector: RunningCollector) -> None:
    nasty = '<script>alert("x")</script>&<b>'
    sid = 'se"s<s>/1'
    post(
        collector.url,
        request_body(
            [
                session_open(sid, "<u>", custom={"k": nasty}),
                message(sid, 1, content=nasty),
                identify("<u>", display_name="<i>n</i>"),
            ]
        ),
    )
    listing = _get(collector, "/sessions")
    session_page = _get(collector, "/sessions/" + quote(sid, safe=""))
    user_page = _get(collector, "/users/" + quote("<u>", safe=""))
    users_page = _get(collector, "/users")
    overview = _get(collector, "/")
    found = _get(collector, "/search?q=script+alert")
    assert "<mark>script</mark>" in found and "&lt;" in found
    for page in (listing, session_page, user_page, users_page, overview, found):
        assert "<script>" not in page and "<u>" not in page and "<i>n" not in page
    assert html.escape(nasty) in session_page
    assert quote(sid, safe="") in listing


def test_live_parts_and_the_version_endpoint(collector: RunningCollector) -> None:
    post(collector.url, request_body([session_open("live", "u", at=_now()), message("live", 1, at=_now())]))
    version = requests.get(collector.url + "/api/version", timeout=5).json()
    assert version == {"version": 2, "poll_seconds": 3.0}
    script = requests.get(collector.url + "/static/live.js", timeout=5)
    assert script.status_code == 200 and "api/version" in script.text
    listing = _live(collector, "/sessions")
    assert listing["version"] == 2 and 'data-session-id="live"' in listing["regions"]["sessions-live"]
    assert "<form" not in listing["regions"]["sessions-live"]  # the filters are never replaced
    overview = _live(collector, "/?range=7d")
    assert (
        "<svg" in overview["regions"]["overview-live"] and "<form" not in overview["regions"]["overview-live"]
    )
    # A session sends only what changed since the version the browser shows.
    unchanged = _live(collector, "/sessions/live?since=2")
    assert unchanged["messages"] == [] and "session-meta" in unchanged["regions"]
    post(
        collector.url,
        request_body([message("live", 2, "assistant", "new!", at=_now()), message_feedback("live", 1)]),
    )
    changed = _live(collector, "/sessions/live?since=2")
    assert changed["version"] == 4 and len(changed["messages"]) == 2
    assert 'data-index="1"' in changed["messages"][0] and "thumbs up" in changed["messages"][0]
    assert 'data-index="2"' in changed["messages"][1] and "new!" in changed["messages"][1]
    page = requests.get(collector.url + "/", timeout=5)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_conflicting_versions_are_flagged_on_the_session_and_counted_on_the_overview(
    collector: RunningCollector,
) -> None:
    post(
        collector.url, request_body([session_open("shared", "u"), message("shared", 1, content="from app A")])
    )
    post(collector.url, request_body([message("shared", 1, content="from app B")]))
    page = _get(collector, "/sessions/shared")
    kept = page.split('data-index="1"')[1].split("</li>")[0]
    assert (
        "from app A" in kept and "from app B" in kept and "kept the first" in kept and "has-conflict" in page
    )
    assert "1 message received again with other content" in page
    assert "1 conflict" in _get(collector, "/sessions")
    assert _rows(_get(collector, "/sessions?conflicts=1")) == ["shared"]
    overview = _get(collector, "/")
    assert re.search(r'Conflicts</div><div class="value">1</div>', overview)


def test_overview_with_data_and_empty(collector: RunningCollector) -> None:
    empty = _get(collector, "/")
    assert "Nothing received yet" in empty and empty.count('<svg viewBox="0 0 560') == 5
    assert "No data in this range" in empty
    post(collector.url, request_body(conversation("s1", "ada") + conversation("s2", "bob")))
    page = _get(collector, "/")
    assert (
        page.count('<svg viewBox="0 0 560') == 5
        and "<rect" in page
        and "No data" not in page.split("Feedback")[0]
    )
    tiles = dict(re.findall(r'<div class="label">([^<]+)</div><div class="value">([^<]+)</div>', page))
    assert tiles == {"Sessions": "2", "Users": "2", "Messages": "8", "Thumbs up": "50%", "Conflicts": "0"}
    assert 'href="/users/ada"' in page and "per hour" in page
    assert "<title" in page and 'role="img"' in page  # charts are labelled for screen readers
    assert "<details><summary>Data</summary>" in page
    assert "Sessions" in _get(collector, "/?range=24h") and "2026-11-26" in _get(
        collector, "/?from=2026-11-26&to=2026-11-27"
    )


def test_search_page_links_to_the_message(collector: RunningCollector) -> None:
    post(collector.url, request_body(conversation("s1", "ada")))
    page = _get(collector, "/search?q=password")
    assert '<a class="hit-link" href="/sessions/s1#m3">' in page and "<mark>password</mark>" in page
    assert "1 message match" in page
    assert "No message contains" in _get(collector, "/search?q=zebra")
    assert "Type words" in _get(collector, "/search")


def test_user_pages(collector: RunningCollector) -> None:
    post(
        collector.url,
        request_body(
            [
                identify("u1", display_name="Ada", email="ada@example.com", country_code="GB"),
                *conversation("s1", "u1")[1:],
            ]
        ),
    )
    users = _get(collector, "/users")
    assert 'href="/users/u1"' in users and "Ada" in users and "GB" in users
    user = _get(collector, "/users/u1")
    assert "ada@example.com" in user and 'data-session-id="s1"' in user


def test_feedback_on_a_message_not_received_is_shown_apart(collector: RunningCollector) -> None:
    post(collector.url, request_body([session_open("s", "u"), message_feedback("s", 9, "thumbs_up")]))
    page = _get(collector, "/sessions/s")
    assert "Feedback on missing messages" in page and "#9" in page


def test_unknown_pages_are_404(collector: RunningCollector) -> None:
    assert "No session" in _get(collector, "/sessions/nope", status=404)
    assert "No user" in _get(collector, "/users/nope", status=404)
    assert "Not found" in _get(collector, "/elsewhere", status=404)
    assert "Not found" in _get(collector, "/sessions/a/b", status=404)
    assert requests.head(collector.url + "/", timeout=5).status_code == 200
