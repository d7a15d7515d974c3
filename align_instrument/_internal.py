"""Logging and containment of our own errors, so that they never reach the host app."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

logger = logging.getLogger("align_instrument")
logger.addHandler(logging.NullHandler())


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


@contextmanager
def capture_internal_exceptions(counter: ErrorCounter | None, kind: str) -> Iterator[None]:
    """Run instrumentation code; an exception in it is counted and logged once per kind at debug.

    The host app's own exceptions must never pass through here: wrap only our code.
    """
    try:
        yield
    except Exception:
        if counter is not None:
            with contextlib.suppress(Exception):  # counting must not fail either
                counter.record_internal_error(kind)
        if kind not in _logged_kinds:
            _logged_kinds.add(kind)
            logger.debug("align_instrument internal error in %s (logged once per kind)", kind, exc_info=True)


def redact_key(text: str, api_key: str | None) -> str:
    """Remove the API key from a text that came from outside (an error body, an exception)."""
    if api_key and api_key in text:
        return text.replace(api_key, "***")
    return text
