"""Benchmark of the local collector: ingestion throughput into SQLite, and page render time.

Run from the repository root:

    python benchmarks/bench_collector.py [--runs 5] [--batches 40] [--sessions 100000 --messages 1000000]

- Ingestion: the collector runs as ``align-instrument serve`` in its own process (as users run
  it); one client posts batches of 500 ``message_create`` events of about 300 bytes each (Connect
  JSON, plain and gzip) over one keep-alive ``requests.Session``, one batch after the other;
  then 4 clients at once (threads of this process, one connection each) for concurrency.
  The collector process's own CPU time per event is reported too: on a shared machine the
  wall-clock rate depends on the load, the CPU cost does not (much).
  Events/s = events stored / wall time from the first request to the last response.
- Page: a session of 1,000 messages; time of ``GET /sessions/<id>`` over HTTP and of the
  rendering function alone.
- Pages at scale: a database of 100,000 sessions and 1,000,000 messages (written straight into
  SQLite through the collector's own schema and rollup SQL, about a minute), served by
  ``align-instrument serve``; time of each page over HTTP (the overview, list pages, searches
  for a rare, a middling and a very common word).

Prints a markdown table of medians over the runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import requests
from _collector_data import fill

from align_instrument.collector import Store, start_collector
from align_instrument.collector.pages import session_page
from align_instrument.collector.validation import check_request
from align_instrument.wire import COLLECT_EVENTS_PATH, format_timestamp

EVENTS_PER_BATCH = 500
CONCURRENT_CLIENTS = 4
JSON_HEADERS = {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}


def make_event(run: str, index: int, session_id: str) -> dict[str, Any]:
    """One ``message_create`` of about 300 bytes of Connect JSON."""
    return {
        "id": f"{run}-{index:09d}",
        "type": "message_create",
        "createTime": format_timestamp(1_795_700_000 + index / 1000),
        "properties": {
            "messageProperties": {
                "sessionId": session_id,
                "messageIndexHint": index + 1,
                "messageRole": "ROLE_USER" if index % 2 == 0 else "ROLE_ASSISTANT",
                "messageContent": "lorem ipsum dolor sit amet " * 2,
            }
        },
        "projectId": "local",
    }


def make_bodies(run: str, batches: int) -> list[bytes]:
    """Pre-encoded request bodies: unique event ids and requestIds, 10 sessions per batch."""
    bodies = []
    for b in range(batches):
        events = [
            make_event(run, b * EVENTS_PER_BATCH + i, f"{run}-s{b}-{i % 10}") for i in range(EVENTS_PER_BATCH)
        ]
        bodies.append(
            json.dumps({"requestId": f"{run}-r{b}", "events": events}, separators=(",", ":")).encode()
        )
    return bodies


def start_server_process(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "align_instrument.cli", "serve", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "ALIGNAI_API_KEY": ""},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("Align local collector on "):
        proc.kill()
        raise RuntimeError(f"collector did not start: {first!r}")
    return proc, first.split()[4]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``); 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def to_proto(bodies: list[bytes]) -> list[bytes] | None:
    """The same requests in binary protobuf, as the official SDK sends them; None without ``alignai``."""
    try:
        from alignai.proto.ingestion.v1alpha.ingestion_pb2 import CollectEventsRequest
        from google.protobuf import json_format
    except ImportError:
        return None
    return [json_format.Parse(body, CollectEventsRequest()).SerializeToString() for body in bodies]


def bench_ingestion(url: str, bodies: list[bytes], gzipped: bool, proto: bool = False) -> float:
    """Events per second for posting ``bodies`` one after the other on one keep-alive connection."""
    headers = {"Content-Type": "application/proto"} if proto else dict(JSON_HEADERS)
    payloads = bodies
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        payloads = [gzip.compress(b, compresslevel=1) for b in bodies]
    with requests.Session() as http:
        http.get(url + "/healthz", timeout=10)  # open the connection before timing
        started = time.perf_counter()
        for payload in payloads:
            response = http.post(url + COLLECT_EVENTS_PATH, data=payload, headers=headers, timeout=60)
            if response.status_code != 200:
                raise RuntimeError(f"collector answered {response.status_code}: {response.text[:200]}")
        elapsed = time.perf_counter() - started
    return len(bodies) * EVENTS_PER_BATCH / elapsed


def bench_concurrent(url: str, bodies: list[bytes], clients: int) -> float:
    """Events per second with ``clients`` threads posting at once, each on its own connection."""
    shares = [bodies[i::clients] for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    failures: list[str] = []

    def client(share: list[bytes]) -> None:
        with requests.Session() as http:
            http.get(url + "/healthz", timeout=10)
            barrier.wait()
            for payload in share:
                response = http.post(
                    url + COLLECT_EVENTS_PATH, data=payload, headers=JSON_HEADERS, timeout=60
                )
                if response.status_code != 200:
                    failures.append(response.text[:200])

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[0]}")
    return len(bodies) * EVENTS_PER_BATCH / elapsed


def bench_page(tmp: Path, runs: int) -> tuple[float, float, int]:
    """(median ms of GET over HTTP, median ms of rendering alone, page bytes) for 1,000 messages."""
    with start_collector(db_path=tmp / "page.db") as collector:
        events = [make_event("page", i, "big-session") for i in range(1000)]
        events.insert(
            0,
            {
                "id": "page-open",
                "type": "session_open",
                "createTime": format_timestamp(1_795_700_000),
                "properties": {
                    "sessionProperties": {"sessionId": "big-session", "userId": "u", "assistantId": "a"}
                },
                "projectId": "local",
            },
        )
        store: Store = collector.store
        request = check_request({"requestId": "page", "events": events})
        store.ingest(request.request_id, request.events)
        http_ms, render_ms = [], []
        size = 0
        with requests.Session() as http:
            for _ in range(runs * 4):
                started = time.perf_counter()
                response = http.get(collector.url + "/sessions/big-session", timeout=30)
                http_ms.append((time.perf_counter() - started) * 1000)
                size = len(response.content)
                assert response.status_code == 200 and response.text.count('class="message ') == 1000
                started = time.perf_counter()
                session_page(store, "big-session")
                render_ms.append((time.perf_counter() - started) * 1000)
    return statistics.median(http_ms), statistics.median(render_ms), size


def scale_pages(db: Path, words: list[str]) -> list[tuple[str, str]]:
    """(label, path) of the pages timed on the large database."""
    conn = sqlite3.connect(db)
    top_user = conn.execute("SELECT user_id FROM rollup_users ORDER BY messages DESC LIMIT 1").fetchone()[0]
    # A cursor deep into the list (page 1,000 of 2,000 at 100,000 sessions), as "Next" carries it.
    deep = min(49_999, conn.execute("SELECT count(*) FROM sessions").fetchone()[0] // 2)
    value, sid = conn.execute(
        "SELECT last_activity, session_id FROM sessions ORDER BY last_activity DESC, session_id DESC"
        " LIMIT 1 OFFSET ?",
        (deep,),
    ).fetchone()
    a_session = conn.execute("SELECT session_id FROM sessions WHERE message_count = 10 LIMIT 1").fetchone()[0]

    def matches(word: str) -> int:
        return int(
            conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (word,)).fetchone()[
                0
            ]
        )

    rare, middling, common = words[2999], words[299], words[1]
    labelled = {w: f"{w!r} ({matches(w):,} matches)" for w in (rare, middling, common)}
    conn.close()
    return [
        ("overview, all time (the landing page)", "/"),
        ("overview, last 7 days", "/?range=7d"),
        ("sessions list, first page", "/sessions"),
        (
            f"sessions list, page {(deep + 1) // 50 + 1:,} (keyset cursor)",
            "/sessions?" + urlencode({"after": f"{value!r}~{sid}"}),
        ),
        ("sessions list, sorted by message count", "/sessions?sort=messages"),
        ("sessions list, the most active user", "/sessions?" + urlencode({"user": top_user})),
        ("sessions list, with thumbs down", "/sessions?feedback=thumbs_down"),
        (f"sessions list, text {labelled[middling]}", "/sessions?" + urlencode({"text": middling})),
        (f"search {labelled[rare]}", "/search?" + urlencode({"q": rare})),
        (f"search {labelled[middling]}", "/search?" + urlencode({"q": middling})),
        (f"search {labelled[common]}", "/search?" + urlencode({"q": common})),
        ("search, two words", "/search?" + urlencode({"q": f"{middling} {common}"})),
        ("a session of 10 messages", "/sessions/" + quote(a_session, safe="")),
        ("live update: /api/version", "/api/version"),
        ("live update: the list's live part", "/sessions?partial=1"),
    ]


def bench_scale(tmp: Path, sessions: int, messages: int, repeats: int) -> list[tuple[str, float, float]]:
    """(label, median ms, max ms) of GET over HTTP for each page of :func:`scale_pages`."""
    db = tmp / "scale.db"
    started = time.perf_counter()
    words = fill(db, sessions, messages)
    print(
        f"  generated {sessions:,} sessions, {messages:,} messages in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    pages = scale_pages(db, words)
    proc, url = start_server_process(db)
    timings = []
    try:
        with requests.Session() as http:
            for label, path in pages:
                samples = []
                for _ in range(repeats + 1):
                    t0 = time.perf_counter()
                    response = http.get(url + path, timeout=60)
                    samples.append((time.perf_counter() - t0) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
                samples = samples[1:]  # the first read warms SQLite's page cache
                timings.append((label, statistics.median(samples), max(samples)))
                print(f"  {label}: {timings[-1][1]:.1f} ms", file=sys.stderr)
    finally:
        proc.terminate()  # SIGTERM: a background shell run ignores SIGINT in its children
        proc.wait(timeout=60)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--batches", type=int, default=40, help="batches of 500 events per run")
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions in the large database")
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the large database")
    parser.add_argument("--skip-scale", action="store_true", help="skip the pages-at-scale part")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="align-bench-") as tmp_name:
        tmp = Path(tmp_name)
        proc, url = start_server_process(tmp / "bench.db")
        results: dict[str, list[float]] = {"plain": [], "gzip": [], "concurrent": [], "proto": []}
        cpu_us_per_event: dict[str, list[float]] = {"plain": [], "gzip": []}
        try:
            sample = make_bodies("sample", 1)[0]
            event_bytes = len(sample) / EVENTS_PER_BATCH
            gzip_bytes = len(gzip.compress(sample, compresslevel=1))
            bench_ingestion(url, make_bodies("warmup", 4), gzipped=False)
            for run in range(args.runs):
                for mode in ("plain", "gzip"):
                    bodies = make_bodies(f"{mode}{run}", args.batches)
                    cpu_before = process_cpu_seconds(proc.pid)
                    results[mode].append(bench_ingestion(url, bodies, gzipped=mode == "gzip"))
                    cpu = process_cpu_seconds(proc.pid) - cpu_before
                    cpu_us_per_event[mode].append(cpu / (len(bodies) * EVENTS_PER_BATCH) * 1e6)
                    print(
                        f"  run {run + 1}/{args.runs} {mode}: {results[mode][-1]:,.0f} events/s",
                        file=sys.stderr,
                    )
                proto_bodies = to_proto(make_bodies(f"proto{run}", args.batches))
                if proto_bodies is not None:
                    results["proto"].append(bench_ingestion(url, proto_bodies, gzipped=False, proto=True))
                bodies = make_bodies(f"concurrent{run}", args.batches)
                results["concurrent"].append(bench_concurrent(url, bodies, CONCURRENT_CLIENTS))
                print(
                    f"  run {run + 1}/{args.runs} concurrent: {results['concurrent'][-1]:,.0f}",
                    file=sys.stderr,
                )
        finally:
            proc.terminate()  # SIGTERM: a background shell run ignores SIGINT in its children
            proc.wait(timeout=60)
        http_ms, render_ms, page_bytes = bench_page(tmp, args.runs)
        scale = [] if args.skip_scale else bench_scale(tmp, args.sessions, args.messages, args.runs * 4)

    events_total = args.batches * EVENTS_PER_BATCH
    print()
    print(
        f"Collector benchmark: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]},"
        f" medians of {args.runs} runs"
    )
    print()
    print("| measurement | median | min | max |")
    print("|---|---:|---:|---:|")
    for mode, label in (("plain", "Connect JSON"), ("gzip", "Connect JSON + gzip")):
        values = results[mode]
        print(
            f"| ingestion, {label} ({events_total:,} events, batches of {EVENTS_PER_BATCH}, "
            f"{event_bytes:.0f} B/event) | {statistics.median(values):,.0f} events/s | {min(values):,.0f} | "
            f"{max(values):,.0f} |"
        )
    for mode, label in (("plain", "Connect JSON"), ("gzip", "Connect JSON + gzip")):
        cpu_values = cpu_us_per_event[mode]
        if any(cpu_values):
            median_cpu = statistics.median(cpu_values)
            print(
                f"| collector process CPU per event, {label} (= {1e6 / median_cpu:,.0f} events/s per"
                f" CPU-second) | {median_cpu:.1f} us | {min(cpu_values):.1f} | {max(cpu_values):.1f} |"
            )
    if results["proto"]:
        values = results["proto"]
        print(
            f"| ingestion, binary protobuf as the official SDK sends ({events_total:,} events) |"
            f" {statistics.median(values):,.0f} events/s | {min(values):,.0f} | {max(values):,.0f} |"
        )
    values = results["concurrent"]
    print(
        f"| ingestion, {CONCURRENT_CLIENTS} clients at once, Connect JSON ({events_total:,} events) |"
        f" {statistics.median(values):,.0f} events/s | {min(values):,.0f} | {max(values):,.0f} |"
    )
    print(f"| GET /sessions/<id>, 1,000 messages ({page_bytes / 1024:.0f} KiB HTML) | {http_ms:.1f} ms | | |")
    print(f"| render only (store read + HTML), 1,000 messages | {render_ms:.1f} ms | | |")
    if scale:
        print()
        print(f"Pages over HTTP with {args.sessions:,} sessions and {args.messages:,} messages stored")
        print(f"(median and max of {args.runs * 4} requests after one warm-up; target: under 200 ms)")
        print()
        print("| page | median | max |")
        print("|---|---:|---:|")
        for label, median_ms, max_ms in scale:
            print(f"| {label} | {median_ms:.1f} ms | {max_ms:.1f} ms |")
    print()
    print(
        f"gzip batch: {gzip_bytes / 1024:.1f} KiB for {len(sample) / 1024:.1f} KiB of JSON."
        " Target: >= 20,000 events/s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
