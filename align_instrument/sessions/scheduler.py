"""One daemon thread that runs the engine's periodic work (closing idle sessions).

A single ticker serves every session, so the cost is one sleeping thread however many sessions
are tracked. It starts lazily on first use (no thread at import or construction time) and
restarts itself in a forked child, where threads do not survive.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable

from .._internal import logger

_tickers: weakref.WeakSet[Ticker] = weakref.WeakSet()


def _reset_tickers_in_child() -> None:
    for ticker in list(_tickers):
        ticker._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_tickers_in_child)


class Ticker:
    """Calls ``tick()`` every ``interval`` seconds on one daemon thread until :meth:`stop`.

    Args:
        tick: the work; its exceptions are caught and logged at debug (the thread keeps going).
        interval: seconds between calls.
        name: the thread's name.
    """

    def __init__(self, tick: Callable[[], None], interval: float, name: str = "align-sessions") -> None:
        self._tick = tick
        self._interval = interval
        self._name = name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._running = False

    def ensure_started(self) -> None:
        """Start the thread if it is not running in this process (cheap when it is: no syscall)."""
        if self._running:
            return
        with self._lock:
            if self._stop.is_set() or self._running:
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            self._running = True
            _tickers.add(self)

    def _after_fork_in_child(self) -> None:
        # Threads do not survive fork(): the next ensure_started() starts a new one.
        self._running = False
        self._thread = None
        self._lock = threading.Lock()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._tick()
            except Exception:
                logger.debug("align_instrument: session ticker error", exc_info=True)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread and wait at most ``timeout`` seconds for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout)
