"""The web page in a real headless Chromium: load the list, open a session, see its messages."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import conversation, post, request_body

from align_instrument.collector import RunningCollector

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
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
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,900",
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


def test_open_a_session_from_the_list_and_read_its_messages(
    collector: RunningCollector, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    assert post(collector.url, request_body(conversation("s-browser", "ada"))).status_code == 200
    assert post(collector.url, request_body(conversation("s-other", "bob"))).status_code == 200
    browser.get(collector.url + "/")
    assert "Sessions" in browser.title
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.session")
    assert {r.get_attribute("data-session-id") for r in rows} == {"s-browser", "s-other"}

    browser.find_element(By.CSS_SELECTOR, 'tr[data-session-id="s-browser"] a.session-link').click()
    assert browser.current_url.endswith("/sessions/s-browser")
    messages = browser.find_elements(By.CSS_SELECTOR, "li.message")
    texts = [m.find_element(By.CSS_SELECTOR, ".content").text for m in messages]
    assert texts == ["Hi", "Hello! How can I help?", "Reset my password", "Go to Settings."]
    roles = [m.get_attribute("class").split()[1] for m in messages]
    assert roles == ["user", "assistant", "user", "assistant"]
    feedback = messages[1].find_elements(By.CSS_SELECTOR, ".feedback.thumbs_up")
    assert len(feedback) == 1 and feedback[0].is_displayed()
    assert feedback[0].text == "▲ thumbs up"
    # User bubbles sit right, assistant bubbles left: the layout (CSS) actually applies.
    assert messages[0].location["x"] > messages[1].location["x"]
    if os.environ.get("ALIGN_SCREENSHOT_DIR"):
        browser.save_screenshot(os.path.join(os.environ["ALIGN_SCREENSHOT_DIR"], "session.png"))

    browser.find_element(By.LINK_TEXT, "ada").click()
    assert browser.current_url.endswith("/users/ada")
    assert "Ada" in browser.find_element(By.TAG_NAME, "h1").text

    browser.get(collector.url + "/?feedback=thumbs_down&user=bob")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.session")
    assert [r.get_attribute("data-session-id") for r in rows] == ["s-other"]
    if os.environ.get("ALIGN_SCREENSHOT_DIR"):
        browser.get(collector.url + "/")
        browser.save_screenshot(os.path.join(os.environ["ALIGN_SCREENSHOT_DIR"], "list.png"))
