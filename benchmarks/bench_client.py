"""align_instrument's core client versus the official ``alignai`` SDK, side by side in one run.

Both SDKs make the same calls against the same local endpoint (``_sink.py``, its own process).
Each scenario runs in a fresh interpreter per SDK. Prints a markdown table of medians.

    python benchmarks/bench_client.py [--events 20000] [--repeat 3] [--outage-events 200000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SDKS = ("align_instrument", "alignai")

PRELUDE = """
import json, os, sys, time, urllib.request
SINK = sys.argv[1]
def sink_stats():
    return json.load(urllib.request.urlopen(SINK + "/stats"))
def make_client():
    if SDK == "alignai":
        from alignai import AlignAI
        return AlignAI(project_id="bench", api_key="bench-key", api_host=SINK)
    import align_instrument
    return align_instrument.AlignClient(api_key="bench-key", project_id="bench", host=SINK)
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
CONTENT = "The quick brown fox jumps over the lazy dog; how do I reset my password? " * 1
"""

THROUGHPUT = """
client = make_client()
n = int(sys.argv[2])
samples = []
clock = time.perf_counter_ns
cpu_start = time.process_time()
for i in range(1, n + 1):
    t = clock()
    client.create_message("bench-session", i, "user", CONTENT + str(i))
    samples.append(clock() - t)
client.close(30)
at_close = sink_stats()["events"]
deadline = time.monotonic() + 20
while sink_stats()["events"] < n and time.monotonic() < deadline:
    time.sleep(0.05)
delivered = sink_stats()["events"]
cpu = time.process_time() - cpu_start
samples.sort()
print(json.dumps({"median_us": samples[n // 2] / 1000, "p99_us": samples[int(n * 0.99)] / 1000,
                  "cpu_us_per_event": cpu / max(delivered, 1) * 1e6,
                  "delivered_at_close": at_close / n, "delivered": delivered / n}))
os._exit(0)
"""

EXIT = """
client = make_client()
n = int(sys.argv[2])
for i in range(1, n + 1):
    client.create_message("bench-session", i, "user", CONTENT + str(i))
# the script ends without close()
"""

FORK = """
client = make_client()
for i in range(1, 101):
    client.create_message("parent", i, "user", f"parent {i}")
pid = os.fork()
if pid == 0:
    for i in range(1, 11):
        client.create_message("child", i, "user", f"child {i}")
    client.close(10)
    os._exit(0)
os.waitpid(pid, 0)
client.close(10)
time.sleep(1.0)
os._exit(0)
"""

OUTAGE = """
n = int(sys.argv[2])
client = make_client()
client.create_message("warm-up", 1, "user", "warm-up")
before = rss_mib()
big = "x" * 1000
started = time.monotonic()
logged = 0
for i in range(1, n + 1):
    client.create_message("outage", i, "user", big + str(i))
    logged = i
    if time.monotonic() - started > 120:
        break
print(json.dumps({"rss_growth_mib": rss_mib() - before, "logged": logged,
                  "seconds": time.monotonic() - started}))
os._exit(0)
"""


def sink_call(url: str, path: str, method: str = "POST") -> dict[str, Any]:
    request = urllib.request.Request(url + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"{}")  # type: ignore[no-any-return]


def run_scenario(sdk: str, body: str, sink: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    sink_call(sink, "/reset")
    script = textwrap.dedent(PRELUDE) + f"SDK = {sdk!r}\n" + textwrap.dedent(body)
    result = subprocess.run(
        [sys.executable, "-c", script, sink, *args], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{sdk} scenario failed:\n{result.stderr[-2000:]}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--outage-events", type=int, default=200_000)
    args = parser.parse_args()

    sink_process = subprocess.Popen(
        [sys.executable, str(HERE / "_sink.py")], stdout=subprocess.PIPE, text=True
    )
    assert sink_process.stdout is not None
    sink = f"http://127.0.0.1:{sink_process.stdout.readline().strip()}"
    try:
        rows: dict[str, dict[str, Any]] = {sdk: {} for sdk in SDKS}
        for sdk in SDKS:
            runs = [run_scenario(sdk, THROUGHPUT, sink, str(args.events)) for _ in range(args.repeat)]
            for key in runs[0]:
                rows[sdk][key] = statistics.median(r[key] for r in runs)

            run_scenario(sdk, EXIT, sink, str(args.events))
            time.sleep(1.0)
            rows[sdk]["lost_at_exit"] = 1 - sink_call(sink, "/stats", "GET")["events"] / args.events

            run_scenario(sdk, FORK, sink)
            stats = sink_call(sink, "/stats", "GET")
            rows[sdk]["fork_duplicates"] = stats["duplicates"]
            rows[sdk]["fork_delivered"] = stats["events"] - stats["duplicates"]

            sink_call(sink, "/mode/outage")
            rows[sdk].update(run_scenario(sdk, OUTAGE, sink, str(args.outage_events)))
            sink_call(sink, "/mode/ok")
            print(f"{sdk}: {json.dumps(rows[sdk])}", file=sys.stderr)
    finally:
        sink_process.terminate()

    ours, theirs = rows["align_instrument"], rows["alignai"]
    print(
        f"\n{args.events:,} create_message calls, median of {args.repeat} runs; outage: "
        f"{args.outage_events:,} events of 1 KB against a 503 endpoint\n"
    )
    print("| measure | align_instrument | alignai 0.3.2 | ratio |")
    print("|---|---|---|---|")

    def row(label: str, key: str, fmt: str, ratio: bool = True) -> None:
        a, b = ours[key], theirs[key]
        r = f"{b / a:.1f}x better" if ratio and a else ""
        print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {r} |")

    row("caller time per create_message, median", "median_us", "{:.2f} us")
    row("caller time per create_message, p99", "p99_us", "{:.2f} us")
    row("process CPU per delivered event", "cpu_us_per_event", "{:.1f} us")
    row("delivered when close() returns", "delivered_at_close", "{:.0%}", ratio=False)
    row("lost when the script exits without close()", "lost_at_exit", "{:.0%}", ratio=False)
    row("parent events re-sent by a forked child", "fork_duplicates", "{:.0f}", ratio=False)
    row("RSS growth while logging during an outage", "rss_growth_mib", "{:.0f} MiB")


if __name__ == "__main__":
    main()
