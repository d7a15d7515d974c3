"""The API reference: every public name is documented by the rule, and docs/api.md is up to date.

The rule (parameters, errors, an example; its explicit exceptions) is spelled out in the docstring
of ``docs/generate_api_reference.py``; regenerate the file with ``python docs/generate_api_reference.py``.
"""

from __future__ import annotations

import difflib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "generate_api_reference.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_api_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_every_public_name_is_documented(generator: ModuleType) -> None:
    found = generator.offenders()
    assert not found, (
        f"{len(found)} public name(s) break the docstring rule (see docs/generate_api_reference.py):\n"
        + "\n".join(f"  {line}" for line in found)
    )


def test_the_rule_catches_what_it_claims(generator: ModuleType) -> None:
    """The checker itself: an undocumented parameter, a missing example or Raises are reported."""

    def documented(a: int, *, b: str = "") -> None:
        """Do it.

        Args:
            a: the first.
            b: the second.

        Example:
            >>> documented(1, b="x")
        """

    def lacking(a: int, b: str) -> None:
        """Do it.

        Args:
            a: only the first.
        """
        raise ValueError(a)

    def entry(func: object) -> object:
        return generator.Entry(f"tests.{func.__name__}", func.__name__, func, "function")  # type: ignore[attr-defined]

    assert generator._entry_offences(entry(documented)) == []
    assert generator._entry_offences(entry(lacking)) == [
        "parameters not in an Args: section: b",
        "no Example: section",
        "raises, but no Raises: section",
    ]


def test_api_md_is_up_to_date(generator: ModuleType) -> None:
    current = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    expected = generator.render()
    if current != expected:
        diff = list(
            difflib.unified_diff(
                current.splitlines(), expected.splitlines(), "docs/api.md", "generated", n=1, lineterm=""
            )
        )
        shown = "\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else "")
        pytest.fail(
            "docs/api.md is out of date with the docstrings: "
            f"run `python docs/generate_api_reference.py` and commit it\n{shown}",
            pytrace=False,
        )


def test_check_flag_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "api.md"
    stale.write_text("# stale\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "out of date" in result.stderr
