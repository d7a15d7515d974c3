"""The web pages, fetched over HTTP from a running collector."""

from __future__ import annotations

import html
import re
import time
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
    return response.text


def _now(offset: float = 0.0) -> str:
    return format_timestamp(time.time() + offset)


def test_empty_list_explains_how_to_send(collector: RunningCollector) -> None:
    page = _get(collector, "/")
    assert "No sessions yet" in page and "127.0.0.1:8787" in page


def test_sessions_list_shows_counts_feedback_and_state_newest_first(collector: RunningCollector) -> None:
    post(collector.url, request_body(conversation("older", "alice")))
    newer = [session_open("newer", "bob", at=_now()), message("newer", 1, at=_now())]
    post(collector.url, request_body(newer))
    page = _get(collector, "/")
    rows = re.findall(r'<tr class="session" data-session-id="([^"]+)">(.*?)</tr>', page)
    assert [sid for sid, _ in rows] == ["newer", "older"]
    older_row = rows[1][1]
    assert ">4<" in older_row and "closed" in older_row and ">1<" in older_row  # 4 messages, 1 up, 1 down
    assert "live" in rows[0][1]
    assert '<meta http-equiv="refresh"' in page  # a live session is listed


def test_filters_by_user_and_feedback(collector: RunningCollector) -> None:
    post(collector.url, request_body(conversation("s-alice", "alice") + conversation("s-bob", "bob")[1:3]))
    by_user = _get(collector, "/?user=alice")
    assert 'data-session-id="s-alice"' in by_user and 'data-session-id="s-bob"' not in by_user
    assert 'value="alice"' in by_user
    with_down = _get(collector, "/?feedback=thumbs_down")
    assert 'data-session-id="s-alice"' in with_down and 'data-session-id="s-bob"' not in with_down
    without = _get(collector, "/?feedback=none")
    assert 'data-session-id="s-bob"' in without and 'data-session-id="s-alice"' not in without
    assert "No session matches" in _get(collector, "/?user=nobody")
    assert 'data-session-id="s-bob"' in _get(collector, "/?feedback=bogus")  # unknown filter value: ignored


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
    listing = _get(collector, "/")
    session_page = _get(collector, "/sessions/" + quote(sid, safe=""))
    user_page = _get(collector, "/users/" + quote("<u>", safe=""))
    users_page = _get(collector, "/users")
    for page in (listing, session_page, user_page, users_page):
        assert "<script>" not in page and "<u>" not in page and "<i>n" not in page
    assert html.escape(nasty) in session_page
    assert quote(sid, safe="") in listing


def test_live_session_page_refreshes_itself(collector: RunningCollector) -> None:
    post(collector.url, request_body([session_open("live", "u", at=_now()), message("live", 1, at=_now())]))
    page = _get(collector, "/sessions/live")
    assert '<meta http-equiv="refresh" content="3">' in page and "live" in page


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
    assert requests.head(collector.url + "/", timeout=5).status_code == 200


def test_the_list_shows_the_newest_sessions_only(
    collector: RunningCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "MAX_LISTED_SESSIONS", 3)
    post(
        collector.url,
        request_body([session_open(f"s{i}", "u", at=f"2026-11-26T13:58:0{i}Z") for i in range(5)]),
    )
    page = _get(collector, "/")
    assert re.findall(r'data-session-id="([^"]+)"', page) == ["s4", "s3", "s2"]
    assert "Showing the newest 3" in page
