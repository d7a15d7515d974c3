"""What a user sees when delivery fails, in real subprocesses: one stderr line per kind of problem
when the app configured no logging (none when it did: the records go to its handlers), one line
for what an exit leaves undelivered, and a quick exit from a host that refuses every connection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from align_instrument.collector import RunningCollector

SECRET = "sk-align-test-secret-4242"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(script: str, host: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "ALIGNAI_HOST": host, "ALIGNAI_API_KEY": SECRET}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True, timeout=90
    )
    return result, time.monotonic() - started


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_refusing_host_gets_one_line_while_running_and_one_at_exit(closed_port: int) -> None:
    result, _ = run(
        """
        import time
        import align_instrument as align
        client = align.AlignClient(flush_interval=0.05, backoff_base=0.05, backoff_max=0.1)
        for i in range(1, 4):
            client.create_message("s", i, "user", f"m{i}")
        time.sleep(1.5)  # many failed attempts: still one line
        print("app done")
        """,
        f"http://127.0.0.1:{closed_port}",
    )
    assert result.returncode == 0 and result.stdout == "app done\n", result.stderr
    err = lines(result.stderr)
    assert len(err) == 2, err
    assert err[0] == (
        f"align_instrument: cannot connect to 127.0.0.1:{closed_port}: connection refused"
        " (is the server running there?); retrying with backoff"
    )
    assert err[1].startswith(
        "align_instrument: 3 event(s) not delivered at exit: cannot connect to 127.0.0.1"
    )
    assert SECRET not in result.stderr


def test_the_exit_gives_up_on_a_host_that_refused_every_connection(closed_port: int) -> None:
    # A 30 s exit budget: it is not waited out when nothing ever listened at the host.
    result, elapsed = run(
        """
        import align_instrument as align
        client = align.AlignClient(shutdown_timeout=30)
        client.open_session("s", "u")
        client.create_message("s", 1, "user", "hello")
        """,
        f"http://127.0.0.1:{closed_port}",
    )
    assert result.returncode == 0, result.stderr
    assert lines(result.stderr) == [
        f"align_instrument: 2 event(s) not delivered at exit: cannot connect to 127.0.0.1:{closed_port}:"
        " connection refused (is the server running there?)"
    ]
    assert elapsed < 10, elapsed  # interpreter start-up, two refused connections: ~0.5 s when idle


def test_a_host_that_answered_before_keeps_the_exit_budget() -> None:
    # Briefly failing (it answered, then went away): the exit keeps retrying for its budget.
    result, elapsed = run(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from fault_server import FaultServer
        import align_instrument as align
        server = FaultServer().__enter__()
        client = align.AlignClient(host=server.url, shutdown_timeout=1.5, backoff_base=0.05, backoff_max=0.1)
        client.open_session("s", "u")
        assert client.flush(5)
        server.__exit__()  # gone: its port now refuses connections
        client.create_message("s", 1, "user", "hello")
        """,
        "http://127.0.0.1:9",
    )
    assert result.returncode == 0, result.stderr
    err = lines(result.stderr)
    assert len(err) == 1 and "1 event(s) not delivered at exit: the 1.5 s exit budget" in err[0], err
    assert "connection refused" in err[0]
    assert elapsed >= 1.4


def test_a_wrong_path_is_one_line_with_the_servers_hint(collector: RunningCollector) -> None:
    result, _ = run(
        """
        import align_instrument as align
        client = align.AlignClient()
        client.open_session("s", "u")
        print(client.flush(5))
        client.create_message("s", 1, "user", "hello")
        print(client.flush(5))
        """,
        collector.url + "/wrong/prefix",
    )
    assert result.returncode == 0 and result.stdout == "False\nFalse\n", result.stderr
    err = lines(result.stderr)
    assert len(err) == 1, err  # the same kind of problem twice: one line
    assert err[0].startswith("align_instrument: server answered 404, 1 event(s) dropped (not retried): ")
    assert "/ingestion.v1alpha.IngestionService/CollectEvents" in err[0]  # the collector's hint
    assert SECRET not in result.stderr


@pytest.mark.parametrize("how", ["basicConfig", "a handler on align_instrument"])
def test_an_app_that_configured_logging_gets_records_and_no_stderr_line(closed_port: int, how: str) -> None:
    setup = (
        "logging.basicConfig(stream=sys.stdout, format='%(levelname)s %(name)s %(message)s')"
        if how == "basicConfig"
        else "h = logging.StreamHandler(sys.stdout); h.setFormatter(logging.Formatter("
        "'%(levelname)s %(name)s %(message)s')); logging.getLogger('align_instrument').addHandler(h)"
    )
    result, _ = run(
        f"""
        import logging, sys, time
        {setup}
        import align_instrument as align
        client = align.AlignClient(flush_interval=0.05, backoff_base=0.05, backoff_max=0.1)
        client.open_session("s", "u")
        time.sleep(0.5)
        """,
        f"http://127.0.0.1:{closed_port}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = lines(result.stdout)
    assert out[0].startswith("WARNING align_instrument align_instrument: cannot connect to"), out
    assert out[-1].startswith("WARNING align_instrument align_instrument: 1 event(s) not delivered at exit")
    assert len(out) == 2


def test_nothing_is_printed_when_everything_is_delivered(collector: RunningCollector) -> None:
    result, _ = run(
        """
        import align_instrument as align
        client = align.AlignClient()
        client.open_session("s", "u")
        """,
        collector.url,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(collector.store.events()) == 1
