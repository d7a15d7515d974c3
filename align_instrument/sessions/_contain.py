"""Containment of our errors on hot paths, at no cost when nothing fails.

``capture_internal_exceptions`` is a generator-based context manager (a few microseconds per use).
Hot paths use a plain ``try`` and call :func:`report_internal_error` from the ``except`` block,
which hands the exception to ``capture_internal_exceptions`` (same counting, same once-per-kind log).
"""

from __future__ import annotations

from .._internal import ErrorCounter, capture_internal_exceptions


def report_internal_error(counter: ErrorCounter | None, kind: str) -> None:
    """Count and log the exception being handled. Call only from an ``except Exception:`` block.

    Example:
        >>> try:
        ...     risky()
        ... except Exception:
        ...     report_internal_error(client, "openai_request")
    """
    with capture_internal_exceptions(counter, kind):
        raise  # re-raises the exception being handled, into the capture
