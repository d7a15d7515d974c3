"""notebooks/quickstart.ipynb: committed without outputs, and runs top to bottom offline.

The notebook runs in a real ``python3`` kernel (ipykernel, from the dev extra): jupyter_client finds
that kernelspec in the environment's ``share/jupyter/kernels`` (installed by ipykernel's wheel) or,
failing that, builds it from ipykernel itself, and starts it with this interpreter
(``sys.executable``), so a fresh virtualenv needs no ``ipykernel install``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


def _code_cells(nb: Any) -> list[Any]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"cells {dirty} of {NOTEBOOK.name} carry outputs or execution counts: clear them "
        "(e.g. `jupyter nbconvert --clear-output --inplace notebooks/quickstart.ipynb`)"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def test_notebook_runs_top_to_bottom(tmp_path: Path) -> None:
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:  # pragma: no cover - depends on the environment
        pytest.fail("no python3 kernelspec: is ipykernel installed (pip install -e '.[dev]')?")
    nb = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    started = time.monotonic()
    # Raises CellExecutionError (with the cell's traceback) when any cell fails.
    NotebookClient(
        nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    elapsed = time.monotonic() - started

    outputs = [output for cell in _code_cells(nb) for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps([o.get("text", "") for o in outputs] + [o.get("data", {}) for o in outputs])
    # The story happened: the three sessions are in the table read back from the collector,
    # the thumbs up is on the last reply of the implicit conversation, and the page URL is shown.
    for expected in (
        "support-42",
        "langchain-1",
        "<td>bob</td>",
        "6. assistant: You said: Thanks!  thumbs_up",
    ):
        assert expected in text, f"{expected!r} not in the notebook's outputs"
    assert "/sessions/" in text
    assert elapsed < 60, f"the notebook took {elapsed:.1f} s"
