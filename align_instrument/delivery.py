"""The bounded buffer and the background worker that delivers it.

Caller threads only append a validated :class:`~align_instrument.events.Event` under a short
lock. One daemon worker per client encodes batches, posts them over a keep-alive
``requests.Session``, retries what can be retried and splits what the server rejects, so one
bad event never loses its neighbours. A backoff wait is cut short by ``flush``/``close``; a wait
the server asked for (``Retry-After``) is not, unless ``close`` runs out of time.

Problems are logged through the ``align_instrument`` logger, one line per kind, rate-limited (on
stderr when the app configured no logging). ``close`` against a host that has refused every
connection gives up after one more attempt; ``close`` that leaves events undelivered says how
many and why in one line.

Process lifecycle: an ``atexit`` hook closes every live client with the ``shutdown_timeout``
budget, and ``os.register_at_fork`` gives a child process a fresh, empty buffer, worker, HTTP
session and locks, so it never re-sends what its parent had buffered and never waits on a lock
that a parent's thread held at the instant of the fork.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from . import transport, wire
from ._internal import RateLimitedLog, logger
from .events import SEQ, SIZE, Event
from .options import DeliveryOptions
from .transport import is_loopback

if TYPE_CHECKING:
    import requests

RETRYABLE_STATUS = frozenset(
    {408, 429, 500, 502, 503, 504, 505, 506, 507, 508, 509, 510, 511, 520, 521, 522, 523, 524}
)
SPLITTABLE_STATUS = frozenset({400, 413})
_EXPLAINED_DROPS = frozenset({"rejected", "too_large", "shutdown"})
"""Drop reasons (besides ``http_<status>``) whose cause is logged in one line with the count, or
reported by ``close()``."""


class _Abandoned(Exception):
    """close() ran out of time while a batch was still being retried, or gave up on a host that
    refused every connection."""


class Delivery:
    """The buffer and its worker for one client."""

    def __init__(self, endpoint: str, api_key: str | None, project_id: str, options: DeliveryOptions) -> None:
        self._endpoint = endpoint
        self._api_key = api_key
        self._project_id = project_id
        self._opts = options
        self._headers = dict(wire.JSON_HEADERS)
        self._headers.update(options.extra_headers)
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        # Compression pays on a real network, not on loopback (the local collector): skip it there.
        self._gzip = options.gzip if options.gzip is not None else not is_loopback(endpoint)
        # Copied out of the options: attribute look-ups on the caller's hot path add up.
        self._max_queue_events = options.max_queue_events
        self._max_queue_bytes = options.max_queue_bytes
        self._max_batch_events = options.max_batch_events
        self._reset_state()
        _live.add(self)

    def _reset_state(self) -> None:
        """Fresh state and fresh locks: at construction and in a forked child."""
        self._log = RateLimitedLog()
        self._lock = threading.Lock()
        self._settled = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._interrupt = threading.Event()
        self._queue: deque[Event] = deque()
        self._queued_bytes = 0
        self._seq = 0
        self._settled_seq = 0
        self._failed_seqs: deque[int] = deque(maxlen=4096)
        self._inflight = 0
        self._closed = False
        self._stopping = False
        self._abandon = False
        self._thread: threading.Thread | None = None
        self._inline_deadline: float | None = None
        self._http: requests.Session | None = None
        # Event ids: a random per-process prefix and a counter, cheaper than a uuid4 per event.
        self._id_prefix = os.urandom(8).hex()
        self._batch_seq = 0
        self._counts: dict[str, int] = {"sent": 0, "retried": 0, "batches": 0}
        self._dropped: dict[str, int] = {}
        self._warned_closed = False
        # What the host has shown so far: any answer at all (even a 503) means it is there.
        self._host_answered = False
        self._unreachable_attempts = 0
        self._last_problem = ""
        self._closing = False

    # --- caller side -----------------------------------------------------------------------------------

    def submit(
        self, kind: str, create_time: float, fields: tuple[Any, ...], props: dict[str, str] | None, size: int
    ) -> bool:
        """Append one validated event; never blocks on I/O. False when it was dropped."""
        queue = self._queue
        with self._lock:
            if (
                self._closed
                or len(queue) >= self._max_queue_events
                or self._queued_bytes + size > self._max_queue_bytes
            ):
                accepted = False
            else:
                self._seq = seq = self._seq + 1
                queue.append((seq, kind, create_time, fields, props, size))
                self._queued_bytes += size
                accepted = True
        if not accepted:
            self._record_drop("closed" if self._closed else "queue_full", 1)
            return False
        if self._thread is None:
            self._start_worker()
        if len(queue) >= self._max_batch_events and not self._wake.is_set():
            self._wake.set()
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until every event enqueued before this call is settled; True if all were delivered."""
        return self._flush(timeout) == (0, 0)

    def _flush(self, timeout: float) -> tuple[int, int]:
        """:meth:`flush`, returning how many events enqueued before the call are still unsettled
        when it returns (out of time) and how many failed."""
        with self._lock:
            target = self._seq
        with self._settled:
            start = self._settled_seq
        if target <= start:
            return 0, 0
        deadline = time.monotonic() + max(0.0, timeout)
        if (self._thread is None or not self._thread.is_alive()) and not self._start_worker():
            self._drain_inline(deadline)
        self._wake.set()
        self._interrupt.set()
        with self._settled:
            while self._settled_seq < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._settled.wait(remaining)
            unsettled = max(0, target - self._settled_seq)
            return unsettled, sum(start < seq <= target for seq in self._failed_seqs)

    def close(self, timeout: float, at_exit: bool = False) -> bool:
        with self._lock:
            already_closed, self._closed = self._closed, True
        if already_closed:
            return self.flush(timeout)
        self._closing = True  # problems now go into the one line below, not a line each
        unsettled, failed = self._flush(timeout)
        delivered = unsettled == failed == 0
        self._stopping = True
        if not delivered:
            self._report_undelivered(unsettled, failed, timeout, at_exit)
            # Out of time: stop retrying; what is still buffered is lost and counted.
            self._abandon = True
        self._wake.set()
        self._interrupt.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(0.5 if delivered else 0.05)
        _live.discard(self)
        return delivered

    def _report_undelivered(self, unsettled: int, failed: int, timeout: float, at_exit: bool) -> None:
        why = self._last_problem
        if unsettled:
            budget = (
                f"the {timeout:g} s exit budget (shutdown_timeout)"
                if at_exit
                else f"the {timeout:g} s timeout"
            )
            why = f"{budget} ran out" + (f" while retrying after: {why}" if why else " (the server is slow)")
        self._log(
            logging.WARNING,
            "undelivered",
            "align_instrument: %d event(s) not delivered %s: %s",
            unsettled + failed,
            "at exit" if at_exit else "by close()",
            why,
        )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"enqueued": self._seq, **self._counts}
            out["dropped"] = dict(self._dropped)
            out["pending"] = self._pending()
        return out

    def _pending(self) -> int:
        return len(self._queue) + self._inflight

    def _record_drop(self, reason: str, count: int) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
        if reason == "closed":
            if not self._warned_closed:
                self._warned_closed = True
                logger.warning(
                    "align_instrument: client is closed; further events are dropped (counted in stats())"
                )
        elif reason not in _EXPLAINED_DROPS and not reason.startswith("http_"):
            self._problem(f"drop:{reason}", "dropped %d event(s): %s", count, reason)
        if self._opts.on_drop is not None:
            try:
                self._opts.on_drop(reason, count)
            except Exception:
                logger.debug("on_drop callback raised", exc_info=True)

    def _problem(
        self, key: str, message: str, *args: object, level: int = logging.WARNING, cause: str = ""
    ) -> None:
        """Log a delivery problem, one line per ``key`` a minute; its ``cause`` (else the message)
        is remembered for the close report. While closing, it only goes to debug: :meth:`close`
        then says it once, with the count.
        """
        self._last_problem = cause or message % args
        if self._closing:
            logger.debug("align_instrument: " + message, *args)
        else:
            self._log(level, key, "align_instrument: " + message, *args)

    # --- worker ----------------------------------------------------------------------------------------

    def _start_worker(self) -> bool:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return True
            thread = threading.Thread(target=self._run, name="align-instrument-delivery", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # the interpreter is shutting down and starts no more threads
                return False
            self._thread = thread
            return True

    def _drain_inline(self, deadline: float) -> None:
        """Deliver on the calling thread, when no worker can be started (at interpreter exit)."""
        self._inline_deadline = deadline
        try:
            self._drain()
        finally:
            self._inline_deadline = None

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._opts.flush_interval)
                self._wake.clear()
                try:
                    self._drain()
                except Exception:  # pragma: no cover - a bug of ours must not stop delivery
                    logger.exception("align_instrument delivery worker error")
                if self._stopping and (self._abandon or not self._queue):
                    break
        finally:
            self._drop_unsent()
            if self._http is not None:
                self._http.close()
                self._http = None

    def _drain(self) -> None:
        opts = self._opts
        while not self._abandon:
            batch: list[Event] = []
            size = 0
            with self._lock:
                queue = self._queue
                while queue and len(batch) < opts.max_batch_events:
                    if batch and size + queue[0][SIZE] > opts.max_batch_bytes:
                        break
                    event = queue.popleft()
                    size += event[SIZE]
                    batch.append(event)
                self._queued_bytes -= size
                self._inflight = len(batch)
            if not batch:
                return
            self._batch_seq += 1
            try:
                self._deliver(batch, f"{self._id_prefix}-{self._batch_seq:x}")
            except _Abandoned:
                self._settle(batch, failed=batch, reason="shutdown")
                if self._abandon:
                    self._drop_unsent()  # given up: what is still queued is lost too, at once
                return
            except Exception:  # pragma: no cover - a bug of ours: count the loss, keep delivering
                logger.exception("align_instrument delivery error")
                self._settle(batch, failed=batch, reason="internal_error")
            finally:
                with self._lock:
                    self._inflight = 0

    def _settle(self, batch: list[Event], failed: list[Event] | None = None, reason: str = "") -> None:
        if failed:
            self._record_drop(reason, len(failed))
        with self._settled:
            if failed:
                self._failed_seqs.extend(e[SEQ] for e in failed)
            self._settled_seq = max(self._settled_seq, batch[-1][SEQ])
            self._settled.notify_all()

    def _drop_unsent(self) -> None:
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
        if left:
            self._settle(left, failed=left, reason="shutdown")

    def _deliver(self, batch: list[Event], request_id: str) -> None:
        """Send one batch until it is delivered or permanently refused; splits on 400/413."""
        encoded = self._encode(batch)
        if not encoded:
            self._settle(batch)
            return
        body, gzipped = wire.maybe_gzip(wire.encode_request(request_id, encoded), self._gzip)
        headers = self._headers
        if gzipped:
            headers = {**headers, "Content-Encoding": "gzip"}
        attempt = 0
        while True:
            status, retry_after, message, unreachable = self._post(body, headers)
            if status == 200:
                with self._lock:
                    self._counts["sent"] += len(encoded)
                    self._counts["batches"] += 1
                self._settle(batch)
                return
            if status in SPLITTABLE_STATUS:
                if len(batch) > 1:
                    half = len(batch) // 2
                    self._deliver(batch[:half], request_id + "a")
                    self._deliver(batch[half:], request_id + "b")
                    return
                reason = "rejected" if status == 400 else "too_large"
                self._problem(
                    f"refused:{status}", "server refused an event (%s), it is dropped: %s", status, message
                )
                self._settle(batch, failed=batch, reason=reason)
                return
            if status and status not in RETRYABLE_STATUS:
                self._problem(
                    f"refused:{status}",
                    "server answered %s, %d event(s) dropped (not retried): %s",
                    status,
                    len(batch),
                    message,
                    level=logging.ERROR,
                )
                self._settle(batch, failed=batch, reason=f"http_{status}")
                return
            attempt += 1
            if self._opts.max_retries is not None and attempt > self._opts.max_retries:
                self._settle(batch, failed=batch, reason="retries_exhausted")
                return
            with self._lock:
                self._counts["retried"] += 1
            if status == 0:
                key = "unreachable" if unreachable else "network"
                self._problem(key, "%s; retrying with backoff", message, cause=message)
            else:
                cause = f"server answered {status}: {message}"
                self._problem("retrying", "%s; retrying with backoff", cause, cause=cause)
            if unreachable and self._closing and not self._host_answered and self._unreachable_attempts >= 2:
                # Nothing has ever listened there: waiting out the close/exit budget would not help.
                self._abandon = True
                raise _Abandoned
            self._backoff(attempt, retry_after)

    def _encode(self, batch: list[Event]) -> list[bytes]:
        """Each event encoded on its own: one that cannot be (e.g. a lone surrogate that
        ``before_send`` put back) is dropped and counted, and its neighbours are still sent."""
        prefix, project_id, before_send = self._id_prefix, self._project_id, self._opts.before_send
        bodies = []
        skipped = 0
        for event in batch:
            event_id = f"{prefix}{event[SEQ]:x}"
            try:
                if before_send is None:
                    bodies.append(wire.encode_event_text(event, event_id, project_id).encode())
                    continue
                doc = wire.encode_event(event, event_id, project_id)
                try:
                    edited = before_send(doc)
                except Exception:
                    logger.debug("before_send raised; the event is sent unchanged", exc_info=True)
                    edited = doc
                if edited is None:
                    skipped += 1
                else:
                    bodies.append(wire.dumps(edited).encode())
            except Exception:
                logger.debug("align_instrument could not encode an event", exc_info=True)
                with self._settled:  # flush() reports it as not delivered
                    self._failed_seqs.append(event[SEQ])
                self._record_drop("unencodable", 1)
        if skipped:
            with self._lock:
                self._dropped["before_send"] = self._dropped.get("before_send", 0) + skipped
        return bodies

    def _post(self, body: bytes, headers: dict[str, str]) -> transport.PostResult:
        if self._http is None:
            self._http = transport.new_session(self._endpoint)
        result = transport.post(
            self._http, self._endpoint, body, headers, self._opts.request_timeout, self._api_key
        )
        if result.unreachable:
            self._unreachable_attempts += 1
        else:
            self._host_answered = True
        return result

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        """Wait before the next attempt. ``flush``/``close`` cut a jittered backoff short, but the
        wait a server asked for (``Retry-After``) only ends early when ``close`` gives up."""
        opts = self._opts
        if retry_after is not None:
            delay = min(retry_after, opts.retry_after_max)
        else:
            # Full jitter: spreads the retries of many processes after a shared outage.
            delay = random.uniform(0, min(opts.backoff_max, opts.backoff_base * 2 ** (attempt - 1)))
        if self._inline_deadline is not None:
            remaining = self._inline_deadline - time.monotonic()
            if remaining <= 0 or (retry_after is not None and delay > remaining):
                raise _Abandoned
            delay = min(delay, remaining)
        end = time.monotonic() + delay
        while True:
            if self._interrupt.wait(max(0.0, end - time.monotonic())):
                self._interrupt.clear()
            if self._abandon:
                raise _Abandoned
            if retry_after is None or time.monotonic() >= end:
                return


# --- process lifecycle --------------------------------------------------------------------------------------

_live: weakref.WeakSet[Delivery] = weakref.WeakSet()


def _flush_at_exit() -> None:
    for delivery in list(_live):
        if delivery._seq > delivery._settled_seq:
            try:
                delivery.close(delivery._opts.shutdown_timeout, at_exit=True)
            except Exception:  # pragma: no cover
                logger.debug("flush at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    # The parent still owns (and will deliver) what was buffered: the child starts empty. Its locks
    # are new too: one a parent's thread held at the instant of the fork would never be released.
    for delivery in list(_live):
        delivery._reset_state()


atexit.register(_flush_at_exit)
if hasattr(os, "register_at_fork"):
    # Only a child-side reset: a ``before`` handler that waits for a lock lets another thread run
    # (and start a garbage collection) while the GIL is released, and a fork in the middle of a
    # collection leaves the child's GC lists corrupt (it then spins forever at exit). The child
    # needs none of the parent's state, so nothing has to be held across the fork.
    os.register_at_fork(after_in_child=_after_fork_in_child)
