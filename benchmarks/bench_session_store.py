"""What the shared session store costs: Redis on loopback against the in-memory store, same run.

Run from the repository root (needs Debian's ``redis-server``; the run starts its own)::

    python benchmarks/bench_session_store.py                 # about a minute
    python benchmarks/bench_session_store.py --conversations 30 --seconds 3   # quick look

What it measures:

1. Time added per call: the real ``openai`` SDK against ``align_instrument.local_llm`` (in a
   subprocess), instrumented by ``autoinstrument``; two 7-turn conversations advance call by call,
   one threaded by the in-memory store and one by a ``RedisSessionStore`` (the engine's store is
   swapped between calls). Reported: the median wall time per call of each, the median of the
   paired differences (Redis minus memory), and the store alone: ``begin_turn`` + ``end_turn`` of
   the engine without the SDK, per turn.
2. Throughput: P processes (1 and 8) each running turns through the engine (no SDK, no model: the
   store is what is measured) as fast as they can for ``--seconds``, all sharing one Redis; turns
   per second in total, the p50 / p99 of a turn's store time, Redis's own CPU per turn, and the
   fallbacks (must be 0). On a small machine P processes compete for its cores with Redis: compare
   the memory store's row with the same P.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bench_openai import SYSTEM, TURNS, _call, _openai_client, _question, _start  # noqa: E402


def _engine_turn(engine: Any, history: list[Any], tag: str, turn: int) -> int:
    """One turn through the engine alone: returns its store time in ns (begin + end)."""
    from align_instrument.sessions import ASSISTANT, USER, ChatItem

    history.append(ChatItem(USER, f"{tag} question {turn}: what about the next step of this plan?"))
    start = time.perf_counter_ns()
    t = engine.begin_turn(partition="bench", messages=history)
    reply = f"Answer {turn} to {tag}."
    engine.end_turn(t, reply)
    elapsed = time.perf_counter_ns() - start
    history.append(ChatItem(ASSISTANT, reply))
    return elapsed


def per_call(llm: str, sink: str, redis_url: str, conversations: int) -> dict[str, float]:
    import align_instrument as align
    from align_instrument.instrument import active_engine
    from align_instrument.sessions import RedisSessionStore

    align.autoinstrument(host=sink)
    engine = active_engine()
    assert engine is not None
    stores = {"memory": engine.local_store, "redis": RedisSessionStore(redis_url)}
    client = _openai_client(llm)
    walls: dict[str, list[int]] = {"memory": [], "redis": []}
    store_ns: dict[str, list[int]] = {"memory": [], "redis": []}
    for n in range(conversations + 5):  # the first 5: warm-up
        histories: dict[str, list[Any]] = {"memory": [SYSTEM], "redis": [SYSTEM]}
        engine_histories: dict[str, list[Any]] = {"memory": [], "redis": []}
        for turn in range(TURNS):
            for name in ("memory", "redis") if (n + turn) % 2 == 0 else ("redis", "memory"):
                engine.store = stores[name]
                history = histories[name]
                history.append(_question(f"c{n}{name}", turn))
                wall, _, text = _call(client, history, False)
                history.append({"role": "assistant", "content": text})
                elapsed = _engine_turn(engine, engine_histories[name], f"e{n}{name}", turn)
                if n >= 5:
                    walls[name].append(wall)
                    store_ns[name].append(elapsed)
    fallbacks = engine.stats().get("store_fallback", 0)
    align.uninstrument()
    pairs = list(zip(walls["redis"], walls["memory"], strict=True))
    return {
        "calls": len(pairs),
        "call_memory_us": statistics.median(walls["memory"]) / 1000,
        "call_redis_us": statistics.median(walls["redis"]) / 1000,
        "call_added_us": statistics.median(r - m for r, m in pairs) / 1000,
        "store_memory_us": statistics.median(store_ns["memory"]) / 1000,
        "store_redis_us": statistics.median(store_ns["redis"]) / 1000,
        "fallbacks": fallbacks,
    }


def fleet_worker(sink: str, store: str, start_at: float, seconds: float, tag: str) -> None:
    """One process of the throughput run: turns as fast as it can between start_at and the end."""
    import align_instrument as align
    from align_instrument.sessions import SessionEngine
    from align_instrument.sessions.redis_store import RedisSessionStore

    client = align.AlignClient(host=sink)
    engine = SessionEngine(client, store=RedisSessionStore(store) if store != "memory" else None)
    warm: list[Any] = []
    for turn in range(TURNS):
        _engine_turn(engine, warm, f"{tag}warm", turn)
    time.sleep(max(0.0, start_at - time.time()))
    end = start_at + seconds
    times: list[int] = []
    n = 0
    while time.time() < end:
        history: list[Any] = []
        for turn in range(TURNS):
            times.append(_engine_turn(engine, history, f"{tag}c{n}", turn))
        n += 1
    result = {"turns": len(times), "times": times, "fallbacks": engine.stats().get("store_fallback", 0)}
    print(json.dumps(result), flush=True)
    engine.close(close_sessions=False)
    client.close(2)


def throughput(sink: str, store: str, processes: int, seconds: float) -> dict[str, float]:
    start_at = time.time() + 3.0  # every process imported and warmed up by then
    args = [sys.executable, __file__, "--fleet-worker", sink, store, str(start_at), str(seconds)]
    tags = [f"{processes}p{i}" for i in range(processes)]  # new conversations in each run
    procs = [subprocess.Popen([*args, tag], stdout=subprocess.PIPE, text=True) for tag in tags]
    redis_cpu = _redis_cpu(store)
    results = [json.loads(p.communicate()[0]) for p in procs]
    redis_cpu = _redis_cpu(store) - redis_cpu
    times = sorted(t for r in results for t in r["times"])
    turns = sum(r["turns"] for r in results)
    return {
        "processes": processes,
        "turns_per_s": turns / seconds,
        "p50_us": times[len(times) // 2] / 1000,
        "p99_us": times[int(len(times) * 0.99)] / 1000,
        "redis_cpu_per_turn_us": redis_cpu / turns * 1e6,
        "fallbacks": sum(r["fallbacks"] for r in results),
    }


def _redis_cpu(store: str) -> float:
    """CPU seconds the Redis server has used (0 for the memory store)."""
    if store == "memory":
        return 0.0
    import redis

    info = redis.Redis.from_url(store).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100, help="paired 7-turn conversations")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    args = parser.parse_args()
    from redis_server import RedisServer

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        llm_proc, llm = _start("llm")
        sink_proc, sink = _start("sink")
        try:
            print("per call:", json.dumps(per_call(llm, sink, server.url, args.conversations)), flush=True)
            for store in ("memory", server.url):
                for processes in (1, 8):
                    row = throughput(sink, store, processes, args.seconds)
                    name = "memory" if store == "memory" else "redis"
                    print(f"throughput {name}:", json.dumps(row), flush=True)
        finally:
            for proc in (llm_proc, sink_proc):
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(10)
            server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fleet-worker"]:
        sink_url, store_url, at, length, name = sys.argv[2:7]
        fleet_worker(sink_url, store_url, float(at), float(length), name)
    else:
        main()
