"""The engine on a RedisSessionStore while the real redis-server hangs, dies and comes back: the
app never raises or waits beyond the timeout, the fallback is counted, threading resumes after.
And a fork with a busy thread: the child gets its own connections."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer

import align_instrument as align
from align_instrument.collector import RunningCollector
from align_instrument.sessions import ASSISTANT, USER, ChatItem, SessionEngine
from align_instrument.sessions.redis_store import RedisSessionStore

SLOW_CALL = 0.5  # generous bound on a loaded machine for a 50 ms socket timeout


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it is stopped and restarted)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


class App:
    """Conversations through the engine, each call timed."""

    def __init__(self, engine: SessionEngine) -> None:
        self.engine = engine
        self.histories: dict[str, list[ChatItem]] = {}
        self.slowest = 0.0

    def say(self, conversation: str, text: str) -> str:
        history = self.histories.setdefault(conversation, [])
        history.append(ChatItem(USER, f"{conversation}: {text}"))
        started = time.perf_counter()
        turn = self.engine.begin_turn(partition="p", messages=history)
        self.slowest = max(self.slowest, time.perf_counter() - started)
        reply = f"You said: {history[-1].text}"
        started = time.perf_counter()
        self.engine.end_turn(turn, reply)
        self.slowest = max(self.slowest, time.perf_counter() - started)
        history.append(ChatItem(ASSISTANT, reply))
        return turn.session_id


def test_redis_hanging_dying_and_returning(own_redis: RedisServer, collector: RunningCollector) -> None:
    client = align.AlignClient(host=collector.url, flush_interval=0.05)
    store = RedisSessionStore(own_redis.url, socket_timeout=0.05, retry_after=0.3)
    engine = SessionEngine(client, store=store, session_timeout=60)
    app = App(engine)
    try:
        first = {app.say("x", f"turn {i}") for i in range(2)}
        assert len(first) == 1 and "store_fallback" not in engine.stats()

        assert own_redis.process is not None
        os.kill(own_redis.process.pid, signal.SIGSTOP)  # hangs: every call times out
        app.say("x", "during the hang")
        app.say("y", "new during the hang")
        assert app.slowest < SLOW_CALL
        assert engine.stats()["store_fallback"] >= 2
        assert store.stats()["outages"] == 1 and store.stats()["down"] == 1

        own_redis.stop()  # dies: connections refused
        for i in range(3):
            app.say("y", f"while down {i}")
        time.sleep(0.35)  # the breaker tries Redis again (refused at once)
        app.say("y", "still down")
        assert app.slowest < SLOW_CALL
        assert store.stats()["errors"] >= 2 and store.stats()["skipped"] >= 1

        own_redis.start()  # back, empty (no persistence)
        time.sleep(0.35)
        fallbacks = engine.stats()["store_fallback"]
        sessions = {app.say("z", f"after {i}") for i in range(3)}
        assert engine.stats()["store_fallback"] == fallbacks  # served by Redis again
        assert store.stats()["down"] == 0 and len(sessions) == 1
        z = sessions.pop()
        assert store._keyspace + "s:" + z in store.key_names()
        assert app.say("z", "one more") == z
        assert client.flush(5)
        detail = collector.store.session(z)
        assert detail is not None
        assert [m.index for m in detail.messages] == list(range(1, 9))
    finally:
        engine.close()
        client.close(2)


def test_forked_child_uses_its_own_connections(
    redis_server: RedisServer, collector: RunningCollector
) -> None:
    client = align.AlignClient(host=collector.url, flush_interval=0.05)
    store = RedisSessionStore(redis_server.url, socket_timeout=1, prefix="fork" + str(os.getpid()))
    engine = SessionEngine(client, store=store, session_timeout=60)
    app = App(engine)
    sid = app.say("parent", "hello")
    stop = threading.Event()
    errors: list[BaseException] = []

    def busy() -> None:  # the parent keeps using its connections while the child runs
        try:
            while not stop.is_set():
                store.get_response("nothing")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: continue the parent's conversation through Redis
            try:
                history = [*app.histories["parent"], ChatItem(USER, "child")]
                turn = engine.begin_turn(partition="p", messages=history)
                out = {"sid": turn.session_id, "fallback": engine.stats().get("store_fallback", 0)}
            except BaseException as exc:
                out = {"error": repr(exc)}
            os.write(write, json.dumps(out).encode())
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        result = json.loads(os.read(read, 65536))
        os.close(read)
    finally:
        stop.set()
        thread.join()
    assert status == 0 and not errors
    assert result == {"sid": sid, "fallback": 0}
    assert store.stats()["errors"] == 0
    engine.close()
    client.close(2)


def test_one_slow_reply_costs_one_call(redis_server: RedisServer, collector: RunningCollector) -> None:
    client = align.AlignClient(host=collector.url, flush_interval=0.05)
    store = RedisSessionStore(redis_server.url, socket_timeout=0.05, prefix="slow" + str(os.getpid()))
    engine = SessionEngine(client, store=store, session_timeout=60)
    app = App(engine)
    try:
        app.say("a", "first")
        redis_server.client().client_pause(300)  # Redis answers no one for 300 ms
        app.say("b", "during the pause")  # times out: served from memory
        time.sleep(0.35)
        app.say("c", "after the pause")
        assert app.slowest < SLOW_CALL
        assert engine.stats()["store_fallback"] == 1
        assert store.stats() == {"errors": 1, "skipped": 0, "outages": 0, "down": 0}
    finally:
        engine.close()
        client.close(2)
