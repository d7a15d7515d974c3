"""Time and memory that OpenAI instrumentation adds per call: align_instrument vs its peers.

Run from the repository root::

    python benchmarks/bench_openai.py                       # about 2-3 minutes
    python benchmarks/bench_openai.py --conversations 100 --memory-calls 2000   # quick look

What it does, in one run:

- starts ``align_instrument.local_llm`` (the OpenAI-compatible server) and an event sink (a
  loopback HTTP server answering ``{}`` to Align batches), each in its own subprocess, so the
  servers never compete with the measured process for the GIL;
- for each instrumentor (``none``, ``align``, ``openinference``, ``langfuse``) starts a fresh
  worker subprocess (patches never stack) that drives the real ``openai`` SDK through chat
  conversations of 7 turns (each call sends the whole history: system + up to 13 messages),
  non-streaming and streaming. Two conversations advance call by call, one instrumented and one
  not: the instrumentor is installed once, and turned on and off between calls by swapping the
  SDK class attributes its installation changed (same mechanism for all; its state stays alive);
- reports, per instrumentor, the added app-thread CPU time per call: the median of the paired
  differences (instrumented call minus the uninstrumented call next to it), for the 7th-turn call
  (a 7-turn history) and over all turns; and the added wall time the same way (noisier when other
  processes load the machine: CPU time is the robust measure);
- then makes ``--memory-calls`` instrumented calls (half streaming) and reports the process CPU
  per call (all threads: exporters and delivery included; in brackets the difference to
  ``none``) and the RSS growth between the first 1,000 calls and the end (flat = bounded state).

Peers are configured as they run in production, minus the network: OpenInference with an OTel
``BatchSpanProcessor`` and an exporter that drops spans; Langfuse 5 with its default exporter
pointed at a dead loopback port (exports fail in its background thread, never on the app's).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

INSTRUMENTORS = ("none", "align", "openinference", "langfuse")
TURNS = 7


# --- servers (subprocesses) ---------------------------------------------------------------------------


def serve_llm() -> None:
    from align_instrument.local_llm import start_local_llm

    llm = start_local_llm()
    print(llm.base_url, flush=True)
    sys.stdin.read()
    llm.stop()


def serve_sink() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients going away at the end of a worker

    server = Server(("127.0.0.1", 0), Sink)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


def _start(role: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", role], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


# --- worker (one subprocess per instrumentor) ---------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _patchable_classes() -> list[type]:
    """The SDK classes any of the instrumentors patches for these calls."""
    import openai
    from openai._base_client import AsyncAPIClient, SyncAPIClient
    from openai.lib.streaming.chat._completions import AsyncChatCompletionStream, ChatCompletionStream
    from openai.resources.chat.completions import AsyncCompletions, Completions

    return [
        SyncAPIClient,
        AsyncAPIClient,
        openai.OpenAI,
        openai.AsyncOpenAI,
        Completions,
        AsyncCompletions,
        openai.Stream,
        openai.AsyncStream,
        ChatCompletionStream,
        AsyncChatCompletionStream,
    ]


class Toggle:
    """Installs one instrumentor once, then turns it on and off call by call by swapping the SDK
    class attributes its installation changed (the same mechanism for every instrumentor; its own
    state, e.g. align's sessions or OTel's providers, stays alive while it is off)."""

    def __init__(self, name: str, sink: str) -> None:
        self.name = name
        classes = _patchable_classes()
        before = [dict(vars(cls)) for cls in classes]
        self._install(name, sink)
        self.changes = [
            (cls, attr, old.get(attr), value)
            for cls, old in zip(classes, before, strict=True)
            for attr, value in vars(cls).items()
            if old.get(attr) is not value and not attr.startswith("__abstract")
        ]
        if name != "none":
            assert self.changes, f"{name} patched nothing"
        self.on = True
        self.set(False)

    @staticmethod
    def _install(name: str, sink: str) -> None:
        if name == "align":
            import align_instrument as align

            align.autoinstrument(host=sink)
        elif name == "openinference":
            from openinference.instrumentation.openai import OpenAIInstrumentor
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

            class DropExporter(SpanExporter):
                def export(self, spans: Any) -> SpanExportResult:
                    return SpanExportResult.SUCCESS

            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(DropExporter()))
            OpenAIInstrumentor().instrument(tracer_provider=provider)
        elif name == "langfuse":
            os.environ.update(
                {
                    "LANGFUSE_PUBLIC_KEY": "pk-lf-bench",
                    "LANGFUSE_SECRET_KEY": "sk-lf-bench",
                    "LANGFUSE_BASE_URL": "http://127.0.0.1:9",  # nothing listens: exports fail off-thread
                    "LANGFUSE_HOST": "http://127.0.0.1:9",
                }
            )
            import logging

            logging.getLogger("langfuse").setLevel(logging.CRITICAL)
            logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
            import langfuse.openai  # noqa: F401 - patches the SDK at import

    def set(self, on: bool) -> None:
        if on != self.on:
            for cls, attr, original, patched in self.changes:
                if original is None:
                    if on:
                        setattr(cls, attr, patched)
                    else:
                        delattr(cls, attr)
                else:
                    setattr(cls, attr, patched if on else original)
            self.on = on


def _call(client: Any, history: list[dict[str, str]], stream: bool) -> tuple[int, int, str]:
    """One call with the reply fully read: (wall ns, app-thread CPU ns, reply text)."""
    start, cpu = time.perf_counter_ns(), time.thread_time_ns()
    if stream:
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model="local", messages=history, stream=True)
            if c.choices
        )
    else:
        text = (
            client.chat.completions.create(model="local", messages=history).choices[0].message.content or ""
        )
    return time.perf_counter_ns() - start, time.thread_time_ns() - cpu, text


def _question(tag: str, turn: int) -> dict[str, str]:
    return {"role": "user", "content": f"{tag} question {turn}: what about the next step of this plan?"}


SYSTEM = {"role": "system", "content": "You are a helpful assistant. Be brief."}


def _conversation(client: Any, stream: bool, tag: str) -> int:
    """One 7-turn conversation (each call sends the whole history); returns the number of calls."""
    history = [SYSTEM]
    for turn in range(TURNS):
        history.append(_question(tag, turn))
        history.append({"role": "assistant", "content": _call(client, history, stream)[2]})
    return TURNS


def _openai_client(llm: str) -> Any:
    import openai

    if llm != "inprocess":
        return openai.OpenAI(base_url=llm, api_key="bench-key", max_retries=0)
    import httpx2

    from align_instrument.local_llm import respond

    def handle(request: Any) -> Any:
        status, content_type, body = respond(request.url.path, request.content, dict(request.headers))
        return httpx2.Response(status, headers={"content-type": content_type}, content=body)

    return openai.OpenAI(
        base_url="http://local-llm.invalid/v1",
        api_key="bench-key",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=httpx2.MockTransport(handle)),
    )


def worker(name: str, llm: str, sink: str, conversations: int, memory_calls: int) -> None:
    toggle = Toggle(name, sink)
    client = _openai_client(llm)
    results: dict[str, Any] = {"name": name}
    for i in range(10):  # warm up connections and imports, both ways
        for on in (False, True):
            toggle.set(on)
            _conversation(client, False, f"warm{i}")
            _conversation(client, True, f"warm{i}")
    # Two conversations advance side by side, call by call: one always instrumented, one never,
    # so that drift and noise on a shared machine hit both sides alike.
    samples: dict[tuple[bool, bool], list[list[tuple[int, int]]]] = {
        (s, on): [] for s in (False, True) for on in (False, True)
    }
    for n in range(conversations):
        if n % 20 == 0:
            gc.collect()
        for stream in (False, True):
            histories = {False: [SYSTEM], True: [SYSTEM]}
            times: dict[bool, list[tuple[int, int]]] = {False: [], True: []}
            for turn in range(TURNS):
                for on in (False, True) if (n + turn) % 2 == 0 else (True, False):
                    toggle.set(on)
                    history = histories[on]
                    history.append(_question(f"c{n}{'on' if on else 'off'}", turn))
                    wall, cpu, text = _call(client, history, stream)
                    times[on].append((wall, cpu))
                    history.append({"role": "assistant", "content": text})
            for on in (False, True):
                samples[(stream, on)].append(times[on])
    for stream in (False, True):
        kind = "stream" if stream else "nonstream"
        for on in (False, True):
            convs = samples[(stream, on)]
            side = "on" if on else "off"
            for metric, which in (("wall", 0), ("cpu", 1)):
                results[f"{kind}_{side}_{metric}_turn7_us"] = (
                    statistics.median(t[-1][which] for t in convs) / 1000
                )
        # Added time: the median of the paired differences (instrumented call minus the
        # uninstrumented call made right next to it, same turn), which cancels the machine's drift.
        pairs = list(zip(samples[(stream, True)], samples[(stream, False)], strict=True))
        for metric, which in (("wall", 0), ("cpu", 1)):
            results[f"{kind}_added_{metric}_turn7_us"] = (
                statistics.median(on[-1][which] - off[-1][which] for on, off in pairs) / 1000
            )
            results[f"{kind}_added_{metric}_all_us"] = (
                statistics.median(
                    a[which] - b[which] for on, off in pairs for a, b in zip(on, off, strict=True)
                )
                / 1000
            )
    # Memory: instrumented calls, RSS after the first 1,000 and at the end.
    toggle.set(True)
    process_cpu = time.process_time_ns()
    calls = 0
    rss_1k = 0
    conversation = 0
    while calls < memory_calls:
        calls += _conversation(client, conversation % 2 == 1, f"m{conversation}")
        if rss_1k == 0 and calls >= 1000:
            gc.collect()
            rss_1k = _rss_bytes()
        conversation += 1
    results["process_cpu_per_call_us"] = (time.process_time_ns() - process_cpu) / calls / 1000
    gc.collect()
    results["memory_calls"] = calls
    results["rss_after_1k_mib"] = rss_1k / 2**20
    results["rss_end_mib"] = _rss_bytes() / 2**20
    if name == "align":
        import align_instrument as align
        from align_instrument.instrument import active_engine

        engine = active_engine()
        store = getattr(engine, "store", None)
        results["align_store"] = store.sizes() if store is not None and hasattr(store, "sizes") else {}
        results["align_stats"] = align.autoinstrument().stats()
    print(json.dumps(results), flush=True)
    os._exit(0)  # skip exporters' exit flushes to dead hosts


# --- driver -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--conversations", type=int, default=300, help="7-turn conversations per mode and phase"
    )
    parser.add_argument("--memory-calls", type=int, default=10_000)
    parser.add_argument("--only", nargs="*", choices=INSTRUMENTORS, default=list(INSTRUMENTORS))
    parser.add_argument(
        "--transport",
        nargs="*",
        choices=("http", "inprocess"),
        default=["http", "inprocess"],
        help="http: the SDK talks to local_llm over loopback HTTP; inprocess: the SDK's own HTTP client "
        "with an in-process transport answering through local_llm.respond (no network or server "
        "scheduling noise, so small costs stay measurable on a busy machine)",
    )
    parser.add_argument("--serve", choices=("llm", "sink"), help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=INSTRUMENTORS, help=argparse.SUPPRESS)
    parser.add_argument("--llm", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "llm":
        return serve_llm()
    if args.serve == "sink":
        return serve_sink()
    if args.worker:
        return worker(args.worker, args.llm, args.sink, args.conversations, args.memory_calls)

    llm_proc, llm_url = _start("llm")
    sink_proc, sink_url = _start("sink")
    tables: list[tuple[str, list[dict[str, Any]]]] = []
    try:
        for transport in args.transport:
            rows = []
            for name in args.only:
                print(f"running {name} ({transport}) ...", file=sys.stderr, flush=True)
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        name,
                        "--llm",
                        llm_url if transport == "http" else "inprocess",
                        "--sink",
                        sink_url,
                        "--conversations",
                        str(args.conversations),
                        "--memory-calls",
                        str(args.memory_calls),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
                if out.returncode != 0 or not lines:
                    print(f"{name} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(lines[-1]))
            tables.append((transport, rows))
    finally:
        for proc in (llm_proc, sink_proc):
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(5)
    for transport, rows in tables:
        report(transport, rows, args.conversations, args.memory_calls)


def report(transport: str, rows: list[dict[str, Any]], conversations: int, memory_calls: int) -> None:
    """Print one markdown table (and the ratios) for one transport."""

    def added(row: dict[str, Any], kind: str, metric: str, scope: str = "turn7") -> float:
        return float(row[f"{kind}_added_{metric}_{scope}_us"])

    none = next((r for r in rows if r["name"] == "none"), None)
    print(
        f"\n### OpenAI chat completions, local_llm over {transport}: {conversations} conversations of "
        f"{TURNS} turns per "
        "mode, instrumented and not, interleaved call by call. 'Added' = median of paired differences, "
        "microseconds. 'CPU' is the app thread's CPU time per call (robust to other load on the "
        "machine); 'wall' is elapsed time per call.\n"
    )
    print(
        "| instrumentor | non-stream call, wall | added CPU, 7-turn history | added CPU, all turns "
        "| added wall | stream call, wall | added CPU, 7-turn history | added CPU, all turns | added wall "
        f"| process CPU per call, {memory_calls:,} calls | RSS after 1k -> after {memory_calls:,} calls |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [row["name"]]
        for kind in ("nonstream", "stream"):
            cells += [
                f"{row[f'{kind}_off_wall_turn7_us']:,.0f}",
                f"{added(row, kind, 'cpu'):+,.0f}",
                f"{added(row, kind, 'cpu', 'all'):+,.0f}",
                f"{added(row, kind, 'wall'):+,.0f}",
            ]
        extra = row["process_cpu_per_call_us"] - none["process_cpu_per_call_us"] if none else 0.0
        cells.append(f"{row['process_cpu_per_call_us']:,.0f} ({extra:+,.0f})")
        cells.append(f"{row['rss_after_1k_mib']:.1f} -> {row['rss_end_mib']:.1f} MiB")
        print("| " + " | ".join(cells) + " |")
    ours = next((r for r in rows if r["name"] == "align"), None)
    peers = [r for r in rows if r["name"] in ("openinference", "langfuse")]
    if ours and peers:
        print()
        for kind in ("nonstream", "stream"):
            best = min(peers, key=lambda r: added(r, kind, "cpu"))
            ratio = added(ours, kind, "cpu") / max(added(best, kind, "cpu"), 1e-9)
            print(
                f"- {kind}: align adds {added(ours, kind, 'cpu'):+.0f} us of app-thread CPU per call "
                f"(7-turn history) vs best peer {best['name']} {added(best, kind, 'cpu'):+.0f} us "
                f"-> ratio {ratio:.2f} (target <= 0.33)"
            )
        print(f"- align store after the memory run: {ours.get('align_store')}")
        print(f"- align client stats: {ours.get('align_stats')}")


if __name__ == "__main__":
    main()
