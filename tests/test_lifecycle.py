"""Process exit without close() and os.fork(), in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from fault_server import FaultServer


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def run(script: str, server: FaultServer) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALIGNAI_HOST": server.url}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True, timeout=60
    )


def test_exit_without_close_delivers_everything(server: FaultServer) -> None:
    result = run(
        """
        import align_instrument as align
        client = align.AlignClient(flush_interval=60)
        for i in range(1, 5001):
            client.create_message("s", i, "user", f"m{i}")
        # no flush, no close: the atexit hook delivers
        """,
        server,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(server.delivered_contents()) == sorted(f"m{i}" for i in range(1, 5001))


def test_exit_during_an_outage_is_bounded_by_the_shutdown_budget(server: FaultServer) -> None:
    server.always_status = 503
    started = time.monotonic()
    result = run(
        """
        import align_instrument as align
        client = align.AlignClient(flush_interval=60, shutdown_timeout=0.5, backoff_base=0.05)
        client.open_session("s", "u")
        """,
        server,
    )
    assert result.returncode == 0, result.stderr
    assert len(server.requests) >= 2  # it kept trying within its budget
    assert time.monotonic() - started < 4  # interpreter start-up plus the 0.5 s budget


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("worker_started_in_parent", [True, False])
def test_fork_child_never_resends_the_parents_events(
    server: FaultServer, worker_started_in_parent: bool
) -> None:
    result = run(
        f"""
        import os
        import align_instrument as align
        client = align.AlignClient(flush_interval=60)
        if {worker_started_in_parent}:
            client.open_session("warm-up", "u")
            assert client.flush(5)
        for i in range(1, 101):
            client.create_message("parent", i, "user", f"parent {{i}}")
        pids = []
        for n in range(3):  # gunicorn-style pre-forked workers
            pid = os.fork()
            if pid == 0:
                for i in range(1, 11):
                    client.create_message(f"child{{n}}", i, "user", f"child{{n}} {{i}}")
                os._exit(0 if client.close(10) else 3)
            pids.append(pid)
        for pid in pids:
            assert os.waitpid(pid, 0)[1] == 0
        assert client.close(10)
        """,
        server,
    )
    assert result.returncode == 0, result.stderr
    counts = Counter(server.delivered_contents())
    assert all(n == 1 for n in counts.values()), [c for c, n in counts.items() if n > 1][:5]
    assert sum(c.startswith("parent") for c in counts) == 100
    assert sum(c.startswith("child") for c in counts) == 30
    ids = [e["id"] for e in server.delivered()]
    assert len(ids) == len(set(ids))  # children draw fresh id prefixes


def test_events_logged_while_the_interpreter_exits_are_delivered_inline(server: FaultServer) -> None:
    # An atexit hook of the app's, registered before ours runs after it: no thread can start then.
    result = run(
        """
        import atexit
        import align_instrument as align
        client = align.AlignClient(flush_interval=60)
        def log_at_exit():
            client.create_message("s", 1, "user", "logged during shutdown")
            client.close(5)
        atexit.register(log_at_exit)
        """,
        server,
    )
    assert result.returncode == 0, result.stderr
    assert server.delivered_contents() == ["logged during shutdown"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_threads_are_busy_logging_never_hangs_the_child(server: FaultServer) -> None:
    # Threads hold the client's and the buffer's locks all the time (appending, trimming the map of
    # used message indexes, flushing, reading stats) while the main thread forks 60 children.
    result = run(
        """
        import os, sys, threading, time
        import align_instrument as align
        client = align.AlignClient(flush_interval=0.01, recent_sessions=4)
        stop = threading.Event()

        def log(n):
            i = 0
            while not stop.is_set():
                i += 1
                client.create_message(f"t{n}-{i}", 1, "user", "busy")  # a new session each time
                if i % 50 == 0:
                    client.stats()
                    client.flush(0.01)

        threads = [threading.Thread(target=log, args=(n,), daemon=True) for n in range(3)]
        for t in threads:
            t.start()
        hung = failed = 0
        for n in range(60):
            time.sleep(0.005)
            pid = os.fork()
            if pid == 0:
                for i in range(1, 4):
                    client.create_message(f"child{n}", i, "user", f"child {n} {i}")
                ok = client.close(10)
                if not ok:
                    print("child", n, client.stats(), file=sys.stderr, flush=True)
                os._exit(0 if ok else 3)
            deadline = time.monotonic() + 15
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    failed += status != 0
                    break
                if time.monotonic() > deadline:
                    hung += 1
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.01)
        stop.set()
        print(hung, failed)
        """,
        server,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "0"]  # hung children, children that lost events
    children = [c for c in server.delivered_contents() if c.startswith("child")]
    assert len(children) == 180 and len(set(children)) == 180
