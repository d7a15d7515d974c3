"""The buffer and the worker against a real loopback server that fails on purpose."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator

import pytest
from fault_server import BAD_MARKER, Fault, FaultServer

import align_instrument as align

FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "flush_interval": 60}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def make_client(server: FaultServer, **options: object) -> align.AlignClient:
    return align.AlignClient(host=server.url, **{**FAST, **options})  # type: ignore[arg-type]


def log_messages(client: align.AlignClient, session: str, count: int, start: int = 1) -> None:
    for i in range(start, start + count):
        client.create_message(session, i, "user", f"message {i}")


def test_batches_by_count_in_order_over_one_keep_alive_connection(server: FaultServer) -> None:
    client = make_client(server, max_batch_events=500)
    log_messages(client, "s", 1200)
    assert client.close(10)
    assert [len(r.body["events"]) for r in server.requests] == [500, 500, 200]
    assert server.delivered_contents() == [f"message {i}" for i in range(1, 1201)]
    assert len({r.client_port for r in server.requests}) == 1
    assert len({r.body["requestId"] for r in server.requests}) == 3
    stats = client.stats()
    assert stats["sent"] == 1200 and stats["enqueued"] == 1200 and stats["pending"] == 0


def test_a_full_batch_is_sent_without_waiting_for_the_interval(server: FaultServer) -> None:
    client = make_client(server, max_batch_events=50, flush_interval=60)
    log_messages(client, "s", 50)
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.delivered()) == 50
    client.close(5)


def test_the_interval_delivers_a_partial_batch(server: FaultServer) -> None:
    client = make_client(server, flush_interval=0.05)
    client.open_session("s", "u")
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.delivered()) == 1
    client.close(5)


def test_batches_by_bytes_and_gzips_large_bodies(server: FaultServer) -> None:
    client = make_client(server, max_batch_bytes=64 * 1024, gzip=True)
    for i in range(1, 101):
        client.create_message("s", i, "assistant", f"{i} " + "lorem ipsum " * 200)  # ~2.4 KB each
    assert client.close(10)
    assert len(server.requests) >= 4
    assert all(len(r.body["events"]) <= 27 for r in server.requests)
    assert all(r.headers.get("Content-Encoding") == "gzip" for r in server.requests)
    assert all(r.raw_size < 64 * 1024 / 4 for r in server.requests)  # compressed well
    assert len(server.delivered()) == 100
    small = make_client(server, gzip=True)
    small.open_session("s2", "u")
    assert small.close(5)
    assert "Content-Encoding" not in server.requests[-1].headers
    loopback_default = make_client(server, max_batch_bytes=64 * 1024)
    for i in range(1, 30):
        loopback_default.create_message("s3", i, "assistant", "lorem ipsum " * 200)
    assert loopback_default.close(5)
    assert "Content-Encoding" not in server.requests[-1].headers  # not worth it on loopback


def test_connect_json_headers_and_bearer(server: FaultServer) -> None:
    client = align.AlignClient(api_key="secret-key-123", host=server.url, **FAST)  # type: ignore[arg-type]
    client.open_session("s", "u")
    assert client.close(5)
    headers = server.requests[0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Connect-Protocol-Version"] == "1"
    assert headers["Authorization"] == "Bearer secret-key-123"


def test_5xx_and_network_errors_are_retried_with_the_same_request_id(server: FaultServer) -> None:
    server.script(Fault(status=500), Fault(status=503), Fault(drop_connection=True), Fault(status=502))
    client = make_client(server)
    log_messages(client, "s", 3)
    assert client.close(10)
    ids = [r.body["requestId"] for r in server.requests]
    assert len(ids) == 4 and len(set(ids)) == 1  # the dropped connection never reached the log
    assert server.delivered_contents() == ["message 1", "message 2", "message 3"]
    assert client.stats()["retried"] == 4


def test_408_and_slow_responses_are_retried(server: FaultServer) -> None:
    server.script(Fault(status=408), Fault(delay=1.0))
    client = make_client(server, request_timeout=0.3)
    log_messages(client, "s", 2)
    assert client.close(10)
    assert server.delivered_contents()[-2:] == ["message 1", "message 2"]
    assert client.stats()["retried"] == 2


def wait_for_requests(server: FaultServer, count: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_429_honours_retry_after(server: FaultServer) -> None:
    server.script(Fault(status=429, retry_after="1"))
    client = make_client(server)
    client.open_session("s", "u")
    client._delivery._wake.set()  # deliver now, without flush()
    wait_for_requests(server, 2)
    first, second = server.requests[0], server.requests[1]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.95
    assert client.close(5)


def test_flush_honours_retry_after_while_its_deadline_allows(server: FaultServer) -> None:
    server.script(Fault(status=429, retry_after="2"))
    client = make_client(server)
    client.open_session("s", "u")
    started = time.monotonic()
    assert client.flush(timeout_seconds=10)  # waits the 2 s the server asked for, then delivers
    first, second = server.requests
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.95
    assert time.monotonic() - started < 8
    assert client.close(5)


def test_a_retry_after_beyond_the_deadline_is_not_cut_short(server: FaultServer) -> None:
    server.script(Fault(status=503, retry_after="30"))
    client = make_client(server)
    client.open_session("s", "u")
    started = time.monotonic()
    assert not client.flush(timeout_seconds=1)  # out of time: False, without re-sending early
    assert 0.9 <= time.monotonic() - started < 5
    assert len(server.requests) == 1
    assert not client.close(1)  # close gives up on the wait; the event is counted as lost
    assert len(server.requests) == 1
    assert client.stats()["dropped"] == {"shutdown": 1}


def test_flush_cuts_a_jittered_backoff_short(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the longest jittered wait: 30 s
    server.script(Fault(status=503))
    client = make_client(server, backoff_base=30, backoff_max=30)
    client.open_session("s", "u")
    client._delivery._wake.set()
    wait_for_requests(server, 1)
    started = time.monotonic()
    assert client.flush(5)
    assert time.monotonic() - started < 2
    assert [r.status for r in server.requests] == [503, 200]
    client.close(5)


@pytest.mark.parametrize("status", [401, 403, 404, 422, 501])
def test_other_4xx_and_501_are_not_retried(server: FaultServer, status: int) -> None:
    server.always_status = status
    client = make_client(server)
    log_messages(client, "s", 3)
    assert client.flush(5) is False
    assert len(server.requests) == 1
    assert client.stats()["dropped"] == {f"http_{status}": 3}
    client.close(1)


def test_a_400_is_split_until_the_bad_event_is_isolated(server: FaultServer) -> None:
    client = make_client(server)
    for i in range(1, 11):
        client.create_message("s", i, "user", BAD_MARKER if i == 7 else f"message {i}")
    assert client.flush(5) is False  # one event was refused
    assert server.delivered_contents() == [f"message {i}" for i in range(1, 11) if i != 7]
    assert client.stats()["dropped"] == {"rejected": 1}
    client.create_message("s", 11, "user", "after")
    assert client.flush(5) is True  # an earlier refusal does not taint later flushes
    client.close(5)


def test_a_413_is_split(server: FaultServer) -> None:
    server.script(Fault(status=413), Fault(status=413))
    client = make_client(server)
    log_messages(client, "s", 4)
    assert client.close(5)
    assert [len(r.body["events"]) for r in server.requests] == [4, 2, 1, 1, 2]
    assert server.delivered_contents() == [f"message {i}" for i in range(1, 5)]


def test_outage_loses_nothing_and_memory_is_bounded(server: FaultServer) -> None:
    drops: list[tuple[str, int]] = []
    server.always_status = 503
    client = make_client(server, max_queue_events=100, on_drop=lambda reason, n: drops.append((reason, n)))
    slowest = 0.0
    for i in range(1, 151):
        started = time.perf_counter()
        client.create_message("s", i, "user", f"message {i}")
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.05  # never blocks the app
    stats = client.stats()
    assert stats["dropped"]["queue_full"] >= 50 and ("queue_full", 1) in drops
    accepted = stats["enqueued"]
    assert stats["pending"] == accepted
    server.always_status = None  # the outage ends
    assert client.close(10)
    assert len(server.delivered()) == accepted
    assert client.stats()["sent"] == accepted


def test_the_buffer_is_bounded_by_bytes(server: FaultServer) -> None:
    server.always_status = 503
    client = make_client(server, max_queue_bytes=100_000)
    for i in range(1, 101):
        client.create_message("s", i, "user", "x" * 5000)
    stats = client.stats()
    assert 15 <= stats["enqueued"] <= 21 and stats["dropped"]["queue_full"] == 100 - stats["enqueued"]
    server.always_status = None
    client.close(5)


def test_flush_and_close_honour_their_timeout(server: FaultServer) -> None:
    server.default_delay = 1.5
    client = make_client(server)
    client.open_session("s", "u")
    started = time.monotonic()
    assert client.flush(0.3) is False
    assert 0.25 < time.monotonic() - started < 1.0
    started = time.monotonic()
    assert client.close(0.3) is False  # the batch is still in flight
    assert time.monotonic() - started < 1.0


def test_close_returns_only_when_everything_is_delivered(server: FaultServer) -> None:
    client = align.AlignClient(host=server.url)
    for i in range(1, 20_001):
        client.create_message("s", i, "user", f"m{i}")
    assert client.close(30)
    assert len(server.delivered()) == 20_000
    assert client.stats()["pending"] == 0


def test_calls_after_close_are_dropped_with_one_warning(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server)
    assert client.close(5)
    with caplog.at_level(logging.WARNING, logger="align_instrument"):
        client.open_session("s", "u")
        client.create_message("s", 1, "user", "hi")
    assert client.stats()["dropped"] == {"closed": 2}
    assert sum("closed" in r.getMessage() for r in caplog.records) == 1
    assert client.close(5) is True  # idempotent


def test_before_send_can_edit_or_drop_events(server: FaultServer) -> None:
    def scrub(event: dict[str, object]) -> dict[str, object] | None:
        props = event["properties"]
        assert isinstance(props, dict)
        message = props.get("messageProperties")
        if message and "secret" in message["messageContent"]:
            return None
        if message:
            message["messageContent"] = message["messageContent"].upper()
        return event

    client = make_client(server, before_send=scrub)
    client.create_message("s", 1, "user", "hello")
    client.create_message("s", 2, "user", "my secret")
    assert client.close(5)
    assert server.delivered_contents() == ["HELLO"]
    assert client.stats()["dropped"] == {"before_send": 1}


def test_concurrent_callers_lose_nothing(server: FaultServer) -> None:
    client = make_client(server, max_batch_events=200)

    def worker(n: int) -> None:
        log_messages(client, f"s{n}", 500)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.close(20)
    events = server.delivered()
    assert len(events) == 4000 and len({e["id"] for e in events}) == 4000


def test_the_api_key_never_appears_in_logs_or_repr(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-align-very-secret"
    server.always_status = 401
    client = align.AlignClient(api_key=key, host=server.url, **FAST)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="align_instrument"):
        client.open_session("s", "u")
        client.flush(5)
        client.close(1)
    assert key not in repr(client) and key not in str(client.stats())
    assert caplog.records and all(key not in r.getMessage() for r in caplog.records)
