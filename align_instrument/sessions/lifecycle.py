"""When sessions end: ``close_session`` for the idle ones (one ticker thread for all), for those a
bounded store evicts, and for every session of a process-local store at close or exit.

A shared store's sessions outlive any one process: only their inactivity closes them, each claimed
by exactly one process of the fleet (:meth:`SessionStore.claim_expired`).
"""

from __future__ import annotations

import atexit
import time
import weakref
from collections.abc import Callable, Sequence

from .._internal import capture_internal_exceptions, logger
from ..client import AlignClient
from .scheduler import Ticker
from .store import SessionStore


class SessionCloser:
    """Sends ``close_session`` for the sessions of ``stores`` that end.

    Args:
        client: where the closes go.
        stores: the stores whose sessions this process closes (the engine's store and its
            in-process fallback).
        session_timeout: seconds of inactivity after which a session is closed.
        tick_interval: seconds between the idle passes.
        on_closed: called once per close sent (the engine counts them).
    """

    def __init__(
        self,
        client: AlignClient,
        stores: Sequence[SessionStore],
        session_timeout: float,
        tick_interval: float,
        on_closed: Callable[[], None],
    ) -> None:
        self.client = client
        self.stores = stores
        self.session_timeout = session_timeout
        self._on_closed = on_closed
        self._closed = False
        self._ticker = Ticker(self._tick, tick_interval)
        # Runs before the client's own exit flush (atexit is last-in, first-out), so the closes
        # reach the buffer that flush then delivers.
        self._atexit = _weak_method(self._at_exit)
        atexit.register(self._atexit)

    def ensure_started(self) -> None:
        """Start the ticker thread if needed (cheap when it runs)."""
        self._ticker.ensure_started()

    def close_sessions(self, session_ids: Sequence[str]) -> None:
        """Send ``close_session`` for each (errors counted, never raised)."""
        for sid in session_ids:
            with capture_internal_exceptions(self.client, "close_session"):
                self.client.close_session(sid)
                self._on_closed()

    def close(self, *, close_sessions: bool = True) -> None:
        """Stop the ticker; when ``close_sessions``, close every session of the process-local stores."""
        if self._closed:
            return
        self._closed = True
        self._ticker.stop()
        atexit.unregister(self._atexit)
        if close_sessions:
            with capture_internal_exceptions(self.client, "engine_close"):
                self.close_sessions([sid for store in self.stores for sid in store.pop_all()])

    def _tick(self) -> None:
        inactive_since = time.time() - self.session_timeout
        with capture_internal_exceptions(self.client, "session_tick"):
            for store in self.stores:
                self.close_sessions(store.claim_expired(inactive_since))

    def _at_exit(self) -> None:
        self.close(close_sessions=True)


def _weak_method(method: Callable[[], None]) -> Callable[[], None]:
    """An atexit callback that does not keep its object alive."""
    ref = weakref.WeakMethod(method)

    def call() -> None:
        target = ref()
        if target is not None:
            try:
                target()
            except Exception:
                logger.debug("align_instrument: session exit hook failed", exc_info=True)

    return call
