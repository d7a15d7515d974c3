"""The web pages in a real headless Chromium: live updates that keep your place, paging, search,
the overview's charts, and the layout at 1280x800 and at phone width.

Set ``ALIGN_SCREENSHOT_DIR`` to keep the screenshots taken along the way.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import conversation, message, post, request_body, session_open

from align_instrument.collector import RunningCollector, start_collector
from align_instrument.wire import format_timestamp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None
)
POLL_SECONDS = 0.4
WAIT_SECONDS = 15  # generous: the machine may be loaded

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for the module (starting one takes a second or two)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    # An explicit driver path: selenium-manager never runs, nothing is downloaded.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The browser at 1280x800 with live updates unpaused, whatever the previous test did."""
    browser.set_window_size(1280, 800)
    yield browser
    browser.execute_script("window.localStorage.clear()")


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """A collector whose pages poll for news every 0.4 s (3 s by default)."""
    with start_collector(db_path=tmp_path / "collector.db", poll_seconds=POLL_SECONDS) as running:
        yield running


def _wait(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _version(browser: Any) -> int:
    return int(browser.find_element("tag name", "body").get_attribute("data-live-version"))


def _screenshot(browser: Any, name: str, tmp_path: Path) -> Path:
    directory = Path(os.environ.get("ALIGN_SCREENSHOT_DIR") or tmp_path)
    path = directory / f"{name}.png"
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 5000  # a rendered page, not a blank one
    return path


def _now(offset: float = 0.0) -> str:
    return format_timestamp(time.time() + offset)


def test_open_a_session_from_the_list_and_read_its_messages(collector: RunningCollector, page: Any) -> None:
    from selenium.webdriver.common.by import By

    assert post(collector.url, request_body(conversation("s-browser", "ada"))).status_code == 200
    assert post(collector.url, request_body(conversation("s-other", "bob"))).status_code == 200
    page.get(collector.url + "/sessions")
    assert "Sessions" in page.title
    rows = page.find_elements(By.CSS_SELECTOR, "tr.session")
    assert {r.get_attribute("data-session-id") for r in rows} == {"s-browser", "s-other"}

    page.find_element(By.CSS_SELECTOR, 'tr[data-session-id="s-browser"] a.session-link').click()
    assert page.current_url.endswith("/sessions/s-browser")
    messages = page.find_elements(By.CSS_SELECTOR, "li.message")
    texts = [m.find_element(By.CSS_SELECTOR, ".content").text for m in messages]
    assert texts == ["Hi", "Hello! How can I help?", "Reset my password", "Go to Settings."]
    roles = [m.get_attribute("class").split()[1] for m in messages]
    assert roles == ["user", "assistant", "user", "assistant"]
    feedback = messages[1].find_elements(By.CSS_SELECTOR, ".feedback.thumbs_up")
    assert len(feedback) == 1 and feedback[0].is_displayed()
    assert feedback[0].text == "▲ thumbs up"
    # User bubbles sit right, assistant bubbles left: the layout (CSS) actually applies.
    assert messages[0].location["x"] > messages[1].location["x"]

    page.find_element(By.LINK_TEXT, "ada").click()
    assert page.current_url.endswith("/users/ada")
    assert "Ada" in page.find_element(By.TAG_NAME, "h1").text


def test_live_updates_keep_the_typed_filter_and_show_new_messages_until_paused(
    collector: RunningCollector, page: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    post(collector.url, request_body([session_open("live", "ada", at=_now()), message("live", 1, at=_now())]))
    page.get(collector.url + "/sessions")
    page.execute_script("window.notReloaded = true")
    field = page.find_element(By.NAME, "user")
    field.click()
    field.send_keys("ad")  # typed, not submitted
    for cycle in range(2):  # two update cycles, each with news, while the text sits in the field
        before = _version(page)
        post(collector.url, request_body([session_open(f"new-{cycle}", "bob", at=_now())]))
        _wait(lambda before=before: _version(page) > before, f"update cycle {cycle + 1}")
        _wait(
            lambda cycle=cycle: page.find_elements(By.CSS_SELECTOR, f'tr[data-session-id="new-{cycle}"]'),
            "new row",
        )
    assert field.get_attribute("value") == "ad"
    assert page.switch_to.active_element == field  # the focus stayed in the field too
    assert page.execute_script("return window.notReloaded") is True
    assert "3 sessions" in page.find_element(By.ID, "session-count").text
    _screenshot(page, "sessions-live", tmp_path)

    # An open session: new messages appear in place; the scroll position is kept.
    post(
        collector.url,
        request_body([message("live", i, "assistant", f"line {i}\n" * 3, at=_now()) for i in range(2, 40)]),
    )
    page.get(collector.url + "/sessions/live")
    page.execute_script("window.notReloaded = true; window.scrollTo(0, 400)")
    post(collector.url, request_body([message("live", 40, "user", "a new question", at=_now())]))
    _wait(lambda: page.find_elements(By.ID, "m40"), "the new message in the transcript")
    assert page.execute_script("return [window.notReloaded, window.scrollY]") == [True, 400]
    assert [
        int(li.get_attribute("data-index")) for li in page.find_elements(By.CSS_SELECTOR, "li.message")
    ] == list(range(1, 41))

    # Paused: nothing changes, whatever arrives; resumed: it catches up.
    toggle = page.find_element(By.ID, "live-toggle")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and toggle.text == "Resume updates"
    post(collector.url, request_body([message("live", 41, "assistant", "while paused", at=_now())]))
    time.sleep(POLL_SECONDS * 4)
    assert not page.find_elements(By.ID, "m41")
    page.refresh()  # the choice is remembered
    assert page.find_element(By.ID, "live-toggle").get_attribute("aria-pressed") == "true"
    post(collector.url, request_body([message("live", 42, "assistant", "still paused", at=_now())]))
    time.sleep(POLL_SECONDS * 4)
    assert not page.find_elements(By.ID, "m42")
    page.find_element(By.ID, "live-toggle").click()
    _wait(lambda: page.find_elements(By.ID, "m42"), "the message after resuming")


def test_paging_reaches_the_oldest_session(collector: RunningCollector, page: Any) -> None:
    from selenium.webdriver.common.by import By

    sessions = [
        session_open(f"s{i:03d}", "u", at=format_timestamp(1_795_700_000 + i * 60)) for i in range(120)
    ]
    post(collector.url, request_body(sessions))
    page.get(collector.url + "/sessions?user=u")
    seen: list[str] = []
    for _ in range(5):
        seen += [
            r.get_attribute("data-session-id") for r in page.find_elements(By.CSS_SELECTOR, "tr.session")
        ]
        following = page.find_elements(By.CSS_SELECTOR, "a.next-page")
        if not following:
            break
        following[0].click()
    assert seen == [f"s{i:03d}" for i in range(119, -1, -1)]  # three pages of 50, 50 and 20
    assert "user=u" in page.current_url
    page.find_element(By.CSS_SELECTOR, 'a[rel="prev"]').click()
    rows = page.find_elements(By.CSS_SELECTOR, "tr.session")
    assert rows[0].get_attribute("data-session-id") == "s069" and len(rows) == 50


def test_search_finds_a_message_and_opens_its_session_scrolled_to_it(
    collector: RunningCollector, page: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    events = [session_open("long", "ada")]
    events += [message("long", i, content=f"small talk number {i}\n" * 4) for i in range(1, 80)]
    events += [message("long", 80, content="the refund of order 4711 was approved")]
    post(collector.url, request_body(events))
    page.get(collector.url + "/")
    box = page.find_element(By.ID, "header-q")
    box.send_keys("refund approved", Keys.ENTER)
    _wait(lambda: "/search" in page.current_url, "the results page")
    hits = page.find_elements(By.CSS_SELECTOR, "li.hit")
    assert len(hits) == 1 and [m.text for m in hits[0].find_elements(By.TAG_NAME, "mark")] == [
        "refund",
        "approved",
    ]
    _screenshot(page, "search", tmp_path)
    hits[0].find_element(By.CSS_SELECTOR, "a.hit-link").click()
    _wait(lambda: page.current_url.endswith("/sessions/long#m80"), "the session page")
    target = page.find_element(By.ID, "m80")
    top, bottom, height = page.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom, window.innerHeight]", target
    )
    assert page.execute_script("return window.scrollY") > 1000  # scrolled far down the transcript
    assert top >= 0 and bottom <= height  # the message is in view, below the sticky header
    assert "refund" in target.text


def test_overview_charts_with_data_and_empty_at_desktop_and_phone_width(
    collector: RunningCollector, page: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    page.get(collector.url + "/")
    charts = page.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 5 and all(c.size["width"] > 200 and c.size["height"] > 60 for c in charts)
    assert "Nothing received yet" in page.find_element(By.TAG_NAME, "main").text
    _screenshot(page, "overview-empty", tmp_path)

    posts = []
    for i in range(12):
        sid = f"s{i}"
        posts += conversation(sid, f"user{i % 3}")
        posts.append(message(sid, 5, "user", "more", at=_now(-i * 3600)))
    post(collector.url, request_body(posts))
    page.get(collector.url + "/")
    bars = page.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    assert len(bars) >= 5 and all(b.size["height"] >= 1 for b in bars)
    assert page.find_element(By.CSS_SELECTOR, ".tile .value").text == "12"
    assert len(page.find_elements(By.CSS_SELECTOR, "table.top-users tbody tr")) == 3
    _screenshot(page, "overview", tmp_path)
    for path in ("/", "/sessions", "/sessions/s1", "/search?q=password"):
        for width, height in ((1280, 800), (390, 844)):
            page.set_window_size(width, height)
            page.get(collector.url + path)
            # Nothing wider than the screen: wide tables scroll inside their own box.
            overflow = page.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, width, overflow)
            label = path.strip("/").replace("/", "-").replace("?", "-") or "overview"
            _screenshot(page, f"{label}-{width}", tmp_path)
