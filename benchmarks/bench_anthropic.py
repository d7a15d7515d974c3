"""Time that Anthropic instrumentation adds per call: align_instrument vs OpenInference.

Run from the repository root::

    python benchmarks/bench_anthropic.py                     # about 2 minutes
    python benchmarks/bench_anthropic.py --conversations 50  # quick look

The method is ``bench_openai.py``'s, for the ``anthropic`` SDK's ``messages.create`` (plain and
``stream=True``): for each instrumentor (``none``, ``align``, ``openinference``) a fresh worker
subprocess drives the real SDK through 7-turn conversations (each call sends the whole history:
up to 13 messages, and a ``system`` prompt); two conversations advance call by call, one
instrumented and one not (the instrumentor is installed once and turned on and off between calls
by swapping the SDK class attributes its installation changed). Reported: the median of the
paired differences (instrumented call minus the uninstrumented one next to it) of the app
thread's CPU time and of the wall time, for the 7th-turn call and over all turns.

The SDK talks to ``align_instrument.local_llm``'s Anthropic endpoint through its own HTTP client
with an in-process transport (``local_llm.respond``; no network or server scheduling noise, so
small costs stay measurable on a busy machine), or over loopback HTTP with ``--transport http``.
align delivers to an event sink (a loopback server answering ``{}``, in its own subprocess);
OpenInference runs with an OTel ``BatchSpanProcessor`` and an exporter that drops spans.
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

from bench_openai import TURNS, serve_llm, serve_sink

INSTRUMENTORS = ("none", "align", "openinference")
SYSTEM = "You are a helpful assistant. Be brief."


def _start(role: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", role], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _patchable_classes() -> list[type]:
    """The SDK classes either instrumentor patches for these calls."""
    import anthropic
    from anthropic._base_client import AsyncAPIClient, SyncAPIClient
    from anthropic.resources import beta, messages

    return [
        SyncAPIClient,
        AsyncAPIClient,
        messages.Messages,
        messages.AsyncMessages,
        beta.messages.Messages,
        beta.messages.AsyncMessages,
        anthropic.Stream,
        anthropic.AsyncStream,
    ]


class Toggle:
    """Installs one instrumentor, then turns it on and off by swapping the class attributes its
    installation changed (its own state stays alive while it is off)."""

    def __init__(self, name: str, sink: str) -> None:
        classes = _patchable_classes()
        before = [dict(vars(cls)) for cls in classes]
        if name == "align":
            import align_instrument as align

            align.autoinstrument(host=sink)
        elif name == "openinference":
            from openinference.instrumentation.anthropic import AnthropicInstrumentor
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

            class DropExporter(SpanExporter):
                def export(self, spans: Any) -> SpanExportResult:
                    return SpanExportResult.SUCCESS

            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(DropExporter()))
            AnthropicInstrumentor().instrument(tracer_provider=provider)
        self.changes = [
            (cls, attr, old.get(attr), value)
            for cls, old in zip(classes, before, strict=True)
            for attr, value in vars(cls).items()
            if old.get(attr) is not value and not attr.startswith("__abstract")
        ]
        assert name == "none" or self.changes, f"{name} patched nothing"
        self.on = True
        self.set(False)

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


def _client(llm: str) -> Any:
    import anthropic

    if llm != "inprocess":
        return anthropic.Anthropic(base_url=llm.removesuffix("/v1"), api_key="bench-key", max_retries=0)
    import httpx2

    from align_instrument.local_llm import respond

    def handle(request: Any) -> Any:
        status, content_type, body = respond(request.url.path, request.content, dict(request.headers))
        return httpx2.Response(status, headers={"content-type": content_type}, content=body)

    return anthropic.Anthropic(
        base_url="http://local-llm.invalid",
        api_key="bench-key",
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(transport=httpx2.MockTransport(handle)),
    )


def _call(client: Any, history: list[dict[str, str]], stream: bool) -> tuple[int, int, str]:
    """One call with the reply fully read: (wall ns, app-thread CPU ns, reply text)."""
    start, cpu = time.perf_counter_ns(), time.thread_time_ns()
    kwargs: Any = {"model": "claude-local", "max_tokens": 256, "system": SYSTEM, "messages": history}
    if stream:
        text = "".join(
            e.delta.text
            for e in client.messages.create(**kwargs, stream=True)
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    else:
        text = "".join(b.text for b in client.messages.create(**kwargs).content if b.type == "text")
    return time.perf_counter_ns() - start, time.thread_time_ns() - cpu, text


def _question(tag: str, turn: int) -> dict[str, str]:
    return {"role": "user", "content": f"{tag} question {turn}: what about the next step of this plan?"}


def worker(name: str, llm: str, sink: str, conversations: int) -> None:
    toggle = Toggle(name, sink)
    client = _client(llm)
    samples: dict[tuple[bool, bool], list[list[tuple[int, int]]]] = {
        (s, on): [] for s in (False, True) for on in (False, True)
    }
    for n in range(-10, conversations):  # the first 10 warm up connections and imports
        if n % 20 == 0:
            gc.collect()
        for stream in (False, True):
            histories: dict[bool, list[dict[str, str]]] = {False: [], True: []}
            times: dict[bool, list[tuple[int, int]]] = {False: [], True: []}
            for turn in range(TURNS):
                for on in (False, True) if (n + turn) % 2 == 0 else (True, False):
                    toggle.set(on)
                    history = histories[on]
                    history.append(_question(f"c{n}{'s' if stream else 'n'}{'on' if on else 'off'}", turn))
                    wall, cpu, text = _call(client, history, stream)
                    times[on].append((wall, cpu))
                    history.append({"role": "assistant", "content": text})
            if n >= 0:
                for on in (False, True):
                    samples[(stream, on)].append(times[on])
    results: dict[str, Any] = {"name": name}
    for stream in (False, True):
        kind = "stream" if stream else "nonstream"
        results[f"{kind}_off_wall_turn7_us"] = (
            statistics.median(t[-1][0] for t in samples[(stream, False)]) / 1000
        )
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
    if name == "align":
        import align_instrument as align

        results["align_stats"] = align.autoinstrument().stats()
    print(json.dumps(results), flush=True)
    os._exit(0)  # skip exporters' exit flushes


def report(transport: str, rows: list[dict[str, Any]], conversations: int) -> None:
    def added(row: dict[str, Any], kind: str, metric: str, scope: str = "turn7") -> float:
        return float(row[f"{kind}_added_{metric}_{scope}_us"])

    print(
        f"\n### Anthropic messages.create, local_llm {transport}: {conversations} conversations of {TURNS} "
        "turns per mode, instrumented and not, interleaved call by call. 'Added' = median of paired "
        "differences, microseconds (CPU: the app thread's).\n"
    )
    print(
        "| instrumentor | non-stream call, wall | added CPU, 7-turn history | added CPU, all turns "
        "| added wall | stream call, wall | added CPU, 7-turn history | added CPU, all turns | added wall |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [row["name"]]
        for kind in ("nonstream", "stream"):
            cells += [
                f"{row[f'{kind}_off_wall_turn7_us']:,.0f}",
                f"{added(row, kind, 'cpu'):+,.0f}",
                f"{added(row, kind, 'cpu', 'all'):+,.0f}",
                f"{added(row, kind, 'wall'):+,.0f}",
            ]
        print("| " + " | ".join(cells) + " |")
    ours = next((r for r in rows if r["name"] == "align"), None)
    peer = next((r for r in rows if r["name"] == "openinference"), None)
    if ours and peer:
        print()
        for kind in ("nonstream", "stream"):
            ratio = added(ours, kind, "cpu") / max(added(peer, kind, "cpu"), 1e-9)
            print(
                f"- {kind}: align adds {added(ours, kind, 'cpu'):+.0f} us of app-thread CPU per call "
                f"(7-turn history) vs openinference {added(peer, kind, 'cpu'):+.0f} us -> ratio {ratio:.2f} "
                "(target <= 0.33)"
            )
        print(f"- align client stats: {ours.get('align_stats')}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=200, help="7-turn conversations per mode")
    parser.add_argument("--only", nargs="*", choices=INSTRUMENTORS, default=list(INSTRUMENTORS))
    parser.add_argument("--transport", choices=("inprocess", "http"), default="inprocess")
    parser.add_argument("--serve", choices=("llm", "sink"), help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=INSTRUMENTORS, help=argparse.SUPPRESS)
    parser.add_argument("--llm", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve_llm() if args.serve == "llm" else serve_sink()
    if args.worker:
        return worker(args.worker, args.llm, args.sink, args.conversations)
    servers = [_start("sink")]
    llm_url = "inprocess"
    if args.transport == "http":
        servers.append(_start("llm"))
        llm_url = servers[-1][1]
    rows = []
    try:
        for name in args.only:
            print(f"running {name} ({args.transport}) ...", file=sys.stderr, flush=True)
            command = [sys.executable, __file__, "--worker", name, "--llm", llm_url, "--sink", servers[0][1]]
            out = subprocess.run(
                [*command, "--conversations", str(args.conversations)],
                capture_output=True,
                text=True,
                check=False,
            )
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if out.returncode != 0 or not lines:
                print(f"{name} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append(json.loads(lines[-1]))
    finally:
        for proc, _ in servers:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(5)
    report(args.transport, rows, args.conversations)


if __name__ == "__main__":
    main()
