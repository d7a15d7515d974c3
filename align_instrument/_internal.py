"""Logging and containment of our own errors, so that they never reach the host app."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from typing import Protocol


class StderrUnlessConfigured(logging.Handler):
    """Our stand-in for :data:`logging.lastResort`: a warning (or worse) of ours reaches stderr as
    one line when the app has configured no logging handler that would take it, and only then.

    A library normally installs a ``NullHandler``, and its warnings are then lost unless the app
    configures logging: a delivery failure nobody configured logging for would go unseen. Once the
    app adds a handler (``logging.basicConfig()``, a framework's setup, pytest's capture) the records
    go there alone, with no duplicate line. Callers rate-limit what they log (:class:`RateLimitedLog`).
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if self._app_handles(record):
            return
        try:
            line = " ".join(record.getMessage().split())  # one line, whatever a server answered
            if not line.startswith("align_instrument"):
                line = "align_instrument: " + line
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:  # stderr closed or replaced by something broken: nothing better to do
            pass

    def _app_handles(self, record: logging.LogRecord) -> bool:
        # The walk Logger.callHandlers makes: the record's logger, then its parents while propagating.
        current: logging.Logger | None = logging.getLogger(record.name)
        while current is not None:
            if any(h is not self for h in current.handlers):
                return True
            if not current.propagate:
                return False
            current = current.parent
        return False


logger = logging.getLogger("align_instrument")
logger.addHandler(StderrUnlessConfigured())


class ErrorCounter(Protocol):
    def record_internal_error(self, kind: str) -> None: ...


class RateLimitedLog:
    """Logs a message at most once per ``interval`` seconds per key."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, level: int, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                return
            self._last[key] = now
        logger.log(level, message, *args)


_logged_kinds: set[str] = set()


def report_internal_error(counter: ErrorCounter | None, kind: str) -> None:
    """Count the exception being handled and log it once per kind at debug.

    For hot paths: a plain ``try`` costs nothing until something fails. Call only from an
    ``except Exception:`` block around our own code.

    Example:
        >>> try:
        ...     risky()
        ... except Exception:
        ...     report_internal_error(client, "openai_request")
    """
    if counter is not None:
        with contextlib.suppress(Exception):  # counting must not fail either
            counter.record_internal_error(kind)
    if kind not in _logged_kinds:
        _logged_kinds.add(kind)
        logger.debug("align_instrument internal error in %s (logged once per kind)", kind, exc_info=True)


class capture_internal_exceptions:
    """``with capture_internal_exceptions(client, "kind"):`` runs instrumentation code; an exception
    in it is counted and logged once per kind at debug, never raised to the host app.

    A class rather than ``@contextmanager``: entering and leaving costs well under a microsecond.
    The host app's own exceptions must never pass through here: wrap only our code.
    """

    __slots__ = ("_counter", "_kind")

    def __init__(self, counter: ErrorCounter | None, kind: str) -> None:
        self._counter = counter
        self._kind = kind

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc_type is None or not issubclass(exc_type, Exception):
            return False
        report_internal_error(self._counter, self._kind)
        return True


def redact_key(text: str, api_key: str | None) -> str:
    """Remove the API key from a text that came from outside (an error body, an exception)."""
    if api_key and api_key in text:
        return text.replace(api_key, "***")
    return text
