"""Start-up cost: ``import align_instrument`` and ``autoinstrument()``, cold, in fresh processes.

Each measure runs in a new interpreter (``python -c``), timed inside it with ``perf_counter``
around the statement alone, so interpreter start-up is not counted. Runs alternate between this
checkout and, with ``--before DIR``, another checkout of the package (e.g. an older commit from
``git worktree add``), so both see the same machine load. Bytecode is compiled by a warm-up run
first, as in an installed package. The app measured for ``autoinstrument()`` has imported
``openai`` and not LangChain (with ``langchain-core`` installed): the row says whether LangChain
got imported anyway.

Usage::

    python benchmarks/bench_startup.py                    # --runs 15
    git worktree add /tmp/align-before <commit>
    python benchmarks/bench_startup.py --before /tmp/align-before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

MEASURES: dict[str, str] = {
    "import align_instrument": """
import time, sys
t = time.perf_counter()
import align_instrument
ms = (time.perf_counter() - t) * 1000
extra = {"requests imported": "requests" in sys.modules}
""",
    "autoinstrument(), app imported openai": """
import time, sys
import openai
import align_instrument as align
t = time.perf_counter()
align.autoinstrument()
ms = (time.perf_counter() - t) * 1000
extra = {"LangChain imported": "langchain_core" in sys.modules or "langsmith" in sys.modules}
""",
    "import openai + align_instrument + autoinstrument()": """
import time, sys
t = time.perf_counter()
import openai
import align_instrument as align
align.autoinstrument()
ms = (time.perf_counter() - t) * 1000
extra = {}
""",
    "import alignai (the official SDK, for scale)": """
import time, sys
t = time.perf_counter()
import alignai
ms = (time.perf_counter() - t) * 1000
extra = {}
""",
}


def run_once(code: str, pythonpath: str) -> tuple[float, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=pythonpath, ALIGNAI_HOST="http://127.0.0.1:9")
    env.pop("ALIGNAI_API_KEY", None)
    script = code + "\nprint(__import__('json').dumps({'ms': ms, 'extra': extra}))\n"
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tempfile.gettempdir(),  # not the checkout: `python -c` puts the working directory first
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["ms"]), dict(result["extra"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per measure and checkout")
    parser.add_argument("--before", default=None, help="another checkout of the package to compare with")
    args = parser.parse_args()
    checkouts = {"this checkout": str(HERE)}
    if args.before:
        checkouts = {"before": str(Path(args.before).resolve()), "after": str(HERE)}
    rows = []
    for name, code in MEASURES.items():
        targets = {"-": str(HERE)} if name.startswith("import alignai") else checkouts
        times: dict[str, list[float]] = {label: [] for label in targets}
        extras: dict[str, dict[str, object]] = {}
        for path in targets.values():
            run_once(code, path)  # warm-up: compiles bytecode, fills the OS file cache
        for _ in range(args.runs):
            for label, path in targets.items():  # alternating, so drift hits each alike
                ms, extra = run_once(code, path)
                times[label].append(ms)
                extras[label] = extra
        for label in targets:
            values = sorted(times[label])
            notes = ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in extras[label].items())
            rows.append(
                f"| {name} | {label} | {statistics.median(values):.1f} ms"
                f" | {values[0]:.1f}-{values[-1]:.1f} ms | {notes} |"
            )
    print(f"{args.runs} fresh processes per row, Python {sys.version.split()[0]}\n")
    print("| measure | code | median | min-max | notes |")
    print("|---|---|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
