"""README.md's examples work: every block marked runnable is executed against real local servers.

Convention: a fenced ```` ```python ```` block preceded by the line ``<!-- runnable -->`` is
runnable. It must be complete (no ``...`` placeholders) and take its configuration from the
environment, as an app would: each block runs as its own script in a fresh interpreter with
``ALIGNAI_HOST`` pointing at a local collector of its own and ``OPENAI_BASE_URL`` /
``OPENAI_API_KEY`` at the local OpenAI-compatible server, and must exit 0 and deliver at least one
event to its collector (through ``close()``/``flush()`` or the exit hook). Other blocks (shell
commands, fragments) are documentation only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from align_instrument.collector import start_collector
from align_instrument.local_llm import RunningLLM, start_local_llm

README = Path(__file__).resolve().parent.parent / "README.md"
MARKER = "<!-- runnable -->"
BLOCK_RE = re.compile(r"^<!-- runnable -->\n```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
MIN_RUNNABLE = 6  # the quickstarts, migration, sessions, configuration, troubleshooting


def runnable_blocks() -> list[tuple[int, str]]:
    """``(line number, code)`` of each runnable block in the README."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK_RE.finditer(text)]


@pytest.fixture(scope="module")
def llm() -> Iterator[RunningLLM]:
    with start_local_llm() as running:
        yield running


def test_markers_are_well_formed() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count(MARKER) == len(runnable_blocks()), (
        f"every {MARKER} must be followed directly by a ```python block"
    )
    assert len(runnable_blocks()) >= MIN_RUNNABLE


@pytest.mark.parametrize(
    "line", [line for line, _ in runnable_blocks()], ids=lambda line: f"README.md:{line}"
)
def test_block_is_complete(line: int) -> None:
    code = dict(runnable_blocks())[line]
    assert "..." not in code, f"README.md:{line}: a runnable block has a `...` placeholder"
    compile(code, f"README.md:{line}", "exec")


def _run(line: int, code: str, llm: RunningLLM, workdir: Path) -> str | None:
    """Run one block; None when it worked, else what went wrong."""
    script = workdir / f"readme_{line}.py"
    script.write_text(code, encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ALIGNAI_", "OPENAI_", "ANTHROPIC_", "LANGCHAIN_", "LANGSMITH_"))
    }
    with start_collector(port=0, db_path=workdir / f"readme_{line}.db") as collector:
        env.update(ALIGNAI_HOST=collector.url, OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-local")
        env.update(ANTHROPIC_BASE_URL=llm.anthropic_base_url, ANTHROPIC_API_KEY="sk-ant-local")
        try:
            result = subprocess.run(
                [sys.executable, str(script)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            return f"README.md:{line}: timed out"
        if result.returncode != 0:
            return f"README.md:{line}: exit {result.returncode}\n{result.stderr[-3000:]}"
        if collector.store.event_count() == 0:
            return f"README.md:{line}: ran, but delivered no event to the collector"
    return None


def test_runnable_blocks_run(llm: RunningLLM, tmp_path: Path) -> None:
    blocks = runnable_blocks()
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(lambda b: _run(b[0], b[1], llm, tmp_path), blocks) if f]
    assert not failures, "\n\n".join(failures)
