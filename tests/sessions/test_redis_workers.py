"""Real worker processes sharing one Redis: the fleet logs exactly what one process logs.

Each worker is a subprocess running the real ``openai`` SDK against the local OpenAI-compatible
server, instrumented with ``autoinstrument(session_store=redis_url)`` (one of them through
``ALIGNAI_SESSION_STORE``), and sending to a real collector.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer

from align_instrument.collector import RunningCollector, start_collector
from align_instrument.local_llm import RunningLLM, start_local_llm

WORKER = Path(__file__).with_name("redis_worker.py")
SESSION_TIMEOUT = 10.0  # longer than a conversation's pause between turns, even on a loaded machine
TIMEOUT_OPTION = "?socket_timeout=2"
"""Exactness is tested here, not the fallback (see test_redis_outage.py): on a machine this loaded
(load average 15 on 2 cores), Redis can take longer than the 50 ms default to be scheduled."""


class Worker:
    def __init__(self, llm: RunningLLM, collector: RunningCollector, store: str) -> None:
        env = dict(os.environ)
        if store.startswith("env:"):
            env["ALIGNAI_SESSION_STORE"] = store = store[4:]
            store = "env"
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), llm.base_url, collector.url, store, str(SESSION_TIMEOUT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ready = False

    def wait_ready(self) -> None:
        if not self.ready:
            assert self.receive() == {"ready": True}
            self.ready = True

    def send(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "worker died"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer
        return answer

    def quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(30) == 0


class Fleet:
    """Worker processes fed round-robin; ``run_step`` sends each request to the next worker, all
    at once, and collects the replies."""

    def __init__(self, llm: RunningLLM, collector: RunningCollector, stores: list[str]) -> None:
        self.llm, self.collector, self.stores = llm, collector, stores
        self.workers = [Worker(llm, collector, store) for store in stores]
        self.turn = 0

    def run_step(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for worker in self.workers:
            worker.wait_ready()
        assigned: list[Worker] = []
        for request in requests:
            worker = self.workers[self.turn % len(self.workers)]
            self.turn += 1
            worker.send(request)
            assigned.append(worker)
        return [worker.receive() for worker in assigned]  # each worker answers in order

    def restart(self, i: int) -> None:
        """A rolling restart: the new process is up before the old one exits."""
        new = Worker(self.llm, self.collector, self.stores[i])
        new.wait_ready()
        self.workers[i].quit()
        self.workers[i] = new

    def stats(self) -> list[dict[str, Any]]:
        for worker in self.workers:
            worker.wait_ready()
            worker.send({"stats": True})
        return [worker.receive()["stats"] for worker in self.workers]

    def quit(self) -> None:
        for worker in self.workers:
            worker.quit()


def conversations_feed(fleet: Fleet, *, restart_at: int | None = None) -> None:
    """50 interleaved conversations of 4 turns: anonymous ones, ones with a user, ones in an
    ``align.session`` scope, some regenerating a reply; every step's requests go out together."""
    histories: dict[int, list[dict[str, str]]] = {
        c: [{"role": "system", "content": "Be brief."}] for c in range(50)
    }

    def request(c: int, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": histories[c], **extra}
        if 40 <= c < 45:
            out["user"] = f"user-{c}"
        elif c >= 45:
            out["session"] = f"conv-{c}"
        return out

    step = 0
    for turn in range(4):
        for c in histories:
            histories[c] = [*histories[c], {"role": "user", "content": f"conversation {c}, turn {turn}"}]
        steps = [[(c, request(c)) for c in histories]]
        if turn == 2:  # the users of some conversations regenerate the reply
            steps.append([(c, request(c, seed=7)) for c in histories if c % 8 == 3])
        for requests in steps:
            if restart_at is not None and step == restart_at:
                fleet.restart(1)
            replies = fleet.run_step([r for _, r in requests])
            for (c, sent), reply in zip(requests, replies, strict=True):
                # the app goes on from the newest reply (a regenerated one replaces the first)
                histories[c] = [*sent["messages"], {"role": "assistant", "content": reply["reply"]}]
            step += 1


def transcript(collector: RunningCollector) -> list[tuple[Any, ...]]:
    """Every session as what it holds (generated ids left out): its messages (index, role, text,
    regenerates), how many opens and closes it got, its user, whether it continues another."""
    sessions: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"opens": 0, "closes": 0, "messages": [], "user": None, "continues": False}
    )
    for event in collector.store.events():
        props = event["properties"]
        if event["type"] == "session_open":
            s = sessions[props["sessionProperties"]["sessionId"]]
            s["opens"] += 1
            s["user"] = props["sessionProperties"].get("userId")
            s["continues"] = "continues_session" in (props.get("customProperties") or {})
        elif event["type"] == "session_close":
            sessions[props["sessionProperties"]["sessionId"]]["closes"] += 1
        elif event["type"] == "message_create":
            m = props["messageProperties"]
            regenerates = (props.get("customProperties") or {}).get("regenerates", {}).get("stringValue")
            sessions[m["sessionId"]]["messages"].append(
                (m["messageIndexHint"], m["messageRole"], m["messageContent"], regenerates)
            )
    return sorted(
        (tuple(sorted(s["messages"])), s["opens"], s["closes"], s["user"], s["continues"])
        for s in sessions.values()
    )


def wait_for_closes(collector: RunningCollector, deadline: float) -> None:
    while time.monotonic() < deadline:
        types = Counter(e["type"] for e in collector.store.events())
        if types["session_open"] and types["session_close"] >= types["session_open"]:
            return
        time.sleep(0.2)


@pytest.fixture
def llm() -> Iterator[RunningLLM]:
    with start_local_llm() as running:
        yield running


def test_four_workers_and_a_restart_log_what_one_process_logs(
    llm: RunningLLM, collector: RunningCollector, redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url.replace("/0", "/1") + TIMEOUT_OPTION  # a database of this test alone
    with start_collector(host="127.0.0.1", port=0, db_path=tmp_path / "one.db") as reference:
        fleet = Fleet(llm, collector, [url, url, f"env:{url}", url])
        single = Fleet(llm, reference, ["memory"])  # started together: imports overlap
        conversations_feed(fleet, restart_at=3)
        conversations_feed(single)
        deadline = time.monotonic() + SESSION_TIMEOUT + 20
        wait_for_closes(collector, deadline)
        wait_for_closes(reference, deadline)
        stats = fleet.stats()
        fleet.quit()
        single.quit()
        expected = transcript(reference)
    got = transcript(collector)
    assert len(expected) == 50 and all(s[1:3] == (1, 1) for s in expected)
    assert sum(1 for s in expected for m in s[0] if m[3]) == 6  # the regenerations
    only_got, only_expected = [s for s in got if s not in expected], [s for s in expected if s not in got]
    assert got == expected, (only_got[:3], only_expected[:3])
    assert all("store_fallback" not in s["sessions"] for s in stats)
    assert [s["session_store"]["errors"] for s in stats] == [0, 0, 0, 0]  # env-configured one too


def test_two_processes_at_the_same_instant_never_take_the_same_index(
    llm: RunningLLM, collector: RunningCollector, redis_server: RedisServer
) -> None:
    url = redis_server.url.replace("/0", "/2") + TIMEOUT_OPTION
    fleet = Fleet(llm, collector, [url, url])
    n = 25
    # conversations that both processes continue with the same request (a double submit)
    openings = [[{"role": "user", "content": f"double {i}"}] for i in range(n)]
    replies = fleet.run_step([{"messages": h} for h in openings])
    for history, reply in zip(openings, replies, strict=True):
        history += [{"role": "assistant", "content": reply["reply"]}, {"role": "user", "content": "and?"}]
    start = time.time() + 1.5  # after both workers are idle
    pairs: list[dict[str, Any]] = []
    for i in range(n):
        at = start + i * 0.04
        for who in ("A", "B"):  # one explicit session, two different messages at once
            pairs.append(
                {"messages": [{"role": "user", "content": f"{who} {i}"}], "session": f"race-{i}", "at": at}
            )
        for _ in range(2):
            pairs.append({"messages": openings[i], "at": at + 0.02})
    fleet.run_step(pairs)  # alternating workers: each pair is split across the two processes
    time.sleep(0.3)
    fleet.quit()
    events = [e for e in collector.store.events() if e["type"] == "message_create"]
    points = Counter((e["properties"]["messageProperties"]["sessionId"],
                      e["properties"]["messageProperties"]["messageIndexHint"]) for e in events)  # fmt: skip
    assert max(points.values()) == 1
    per_session = Counter(sid for sid, _ in points)
    assert all(per_session[f"race-{i}"] == 4 for i in range(n))
    doubles = [c for sid, c in per_session.items() if not sid.startswith("race-")]
    assert sorted(doubles) == [5] * n  # "and?" logged once, both replies at their own index
