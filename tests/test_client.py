"""Construction, configuration and the drop-in for the official SDK."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fault_server import FaultServer

import align_instrument as align
from align_instrument.client import DEFAULT_HOST


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALIGNAI_API_KEY", "ALIGNAI_PROJECT_ID", "ALIGNAI_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_missing_key_or_project_is_a_clear_error() -> None:
    with pytest.raises(align.ConfigurationError, match=r"API key missing.*ALIGNAI_API_KEY"):
        align.AlignClient(project_id="p")
    with pytest.raises(align.ConfigurationError, match=r"project id missing.*ALIGNAI_PROJECT_ID"):
        align.AlignClient(api_key="k")
    with pytest.raises(align.ConfigurationError, match="API key missing"):
        align.AlignAI(project_id="p")


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch, server: FaultServer) -> None:
    monkeypatch.setenv("ALIGNAI_API_KEY", "env-key")
    monkeypatch.setenv("ALIGNAI_PROJECT_ID", "env-project")
    default = align.AlignClient()
    assert default.host == DEFAULT_HOST and default.project_id == "env-project"
    default.close(0)
    monkeypatch.setenv("ALIGNAI_HOST", server.url)
    client = align.AlignClient()
    client.open_session("s", "u")
    assert client.close(5)
    request = server.requests[0]
    assert request.headers["Authorization"] == "Bearer env-key"
    assert request.body["events"][0]["projectId"] == "env-project"


def test_loopback_needs_no_credentials(server: FaultServer) -> None:
    client = align.AlignClient(host=server.url)
    assert client.project_id == "local"
    client.open_session("s", "u")
    assert client.close(5)
    assert "Authorization" not in server.requests[0].headers
    assert align.AlignClient(host="http://localhost:1").project_id == "local"


def test_bad_host_and_options_are_named() -> None:
    with pytest.raises(align.ConfigurationError, match="host must be an http"):
        align.AlignClient(host="ftp://example.com", api_key="k", project_id="p")
    with pytest.raises(align.ConfigurationError, match=r"unknown option\(s\) \['flush_intervall'\]"):
        align.AlignClient(host="http://127.0.0.1:1", flush_intervall=1)
    with pytest.raises(align.ConfigurationError, match="max_queue_events must be a positive int"):
        align.AlignClient(host="http://127.0.0.1:1", max_queue_events=0)
    with pytest.raises(align.ConfigurationError, match="on_drop must be callable"):
        align.AlignClient(host="http://127.0.0.1:1", on_drop="print")


def test_plain_http_to_a_remote_host_warns_without_showing_the_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="align_instrument"):
        client = align.AlignClient(api_key="sk-hidden", project_id="p", host="http://align.example.com")
    assert any("plain http" in r.getMessage() for r in caplog.records)
    assert all("sk-hidden" not in r.getMessage() for r in caplog.records)
    assert "sk-hidden" not in repr(client)
    client.close(0)


def test_official_sdk_drop_in(server: FaultServer) -> None:
    config = align.Config(flush_interval_ms=200, flush_batch_size=10, max_buffer_size=20, api_max_retries=1)
    client = align.AlignAI(project_id="proj", api_key="key", api_host=server.url, config=config)
    assert client.config is config and client.api_host == server.url and client.project_id == "proj"
    client.identify_user("u", display_name="Ada")
    client.open_session("s", "u")
    for i in range(1, 31):  # more than the official max_buffer_size: taken as a minimum, nothing dropped
        client.create_message("s", i, align.ROLE_USER, f"m{i}")
    client.create_message_feedback("s", 1, align.FEEDBACK_THUMBS_UP)
    client.create_session_feedback("s", align.FEEDBACK_THUMBS_DOWN)
    client.close_session("s")
    assert client.flush() is True  # the official signature: timeout from config
    assert client.close() is True
    events = server.delivered()
    assert len(events) == 35
    assert events[1]["properties"]["sessionProperties"]["assistantId"] == "DEFAULT"
    assert all(e["projectId"] == "proj" for e in events)


def test_public_constants() -> None:
    assert (align.ROLE_USER, align.ROLE_ASSISTANT) == ("user", "assistant")
    assert (align.FEEDBACK_THUMBS_UP, align.FEEDBACK_THUMBS_DOWN) == ("thumbs_up", "thumbs_down")
    assert issubclass(align.ValidationError, ValueError)


def test_close_hooks_run_while_events_are_accepted_and_their_errors_are_counted(server: FaultServer) -> None:
    client = align.AlignClient(host=server.url, flush_interval=60)
    calls: list[str] = []

    def final_events() -> None:  # what the session engine does: close its sessions
        calls.append("hook")
        client.close_session("last")

    def broken() -> None:
        raise RuntimeError("bug in a hook")

    remove_broken = client.add_close_hook(broken)
    client.add_close_hook(final_events)
    client.add_stats_source("sessions", lambda: {"opened": 1})
    assert client.flush(5) is True and calls == []  # flush does not run close hooks
    remove_broken()
    remove_broken()  # idempotent
    client.add_close_hook(broken)
    assert client.close(5) is True
    assert calls == ["hook"] and len(server.delivered()) == 1  # the hook's event went out in the close
    stats = client.stats()
    assert stats["internal_errors"] == {"close_hook": 1} and stats["sessions"] == {"opened": 1}
    assert stats["dropped"] == {}
