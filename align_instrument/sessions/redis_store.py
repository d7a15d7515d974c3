"""A session store in Redis (or Valkey), shared by every worker process of an app, on every host,
and across restarts: they then log exactly what one process would.

Each operation is one Lua script (one round trip, atomic; see :mod:`.redis_scripts`), with the
semantics of :class:`~align_instrument.sessions.memory_store.InMemorySessionStore`. Redis holds
digests, ids and counters only: never a message text or an API key.

Redis being down or slow never hurts the app: every call has a short socket timeout and no
retries; a failure raises at once to the engine, which serves that call from its in-process store
(sessions may split meanwhile: ``stats()["sessions"]["store_fallback"]``); after two failures in a
row the store skips Redis for ``retry_after`` seconds before trying again. The calls are
synchronous: in an async app they hold the event loop for at most about the socket timeout.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from .._internal import logger
from ..client import LOCAL_PROJECT_ID
from . import redis_scripts
from .store import FAILED, INFLIGHT, ResponsePoint, TurnClaim, TurnOutcome, TurnPlan

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the Redis session store needs the redis package: pip install 'align-instrument[redis]'"
    ) from exc

URL_SCHEMES = ("redis://", "rediss://", "unix://", "valkey://", "valkeys://")
"""The URL forms accepted for ``session_store=`` / ``ALIGNAI_SESSION_STORE``."""


class StoreUnavailable(Exception):
    """Raised (quickly) when Redis failed or is being skipped after a recent failure; the engine
    then serves the call from its in-process store."""


_stores: weakref.WeakSet[RedisSessionStore] = weakref.WeakSet()


def _reset_in_child() -> None:
    for store in list(_stores):
        store._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else str(value)


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


def _optional(value: str | None) -> str:
    return "-" if value is None else "+" + value


class RedisSessionStore:
    """A :class:`~align_instrument.sessions.store.SessionStore` in Redis, shared across processes.

    Args:
        url_or_client: a URL (``redis://[:password@]host:6379/0``, ``rediss://`` for TLS,
            ``unix:///path.sock``; ``valkey://`` is read as ``redis://``) or a ``redis.Redis``
            client (its own timeouts and retries then apply: give it a short ``socket_timeout``).
        session_timeout: the engine's session timeout: turns expire with it, sessions after it plus
            ``expiry_margin``, anchors and closed sessions after 48 times it (at least a day).
        prefix: first part of every key (one Redis can serve several apps).
        project: the Align project id (second part of every key; default ``ALIGNAI_PROJECT_ID``).
        socket_timeout: seconds a call may wait on Redis (connect or reply) before it fails over
            (a reply takes well under a millisecond on a healthy host; 50 ms proved too short on
            an oversubscribed one, where the timeouts split conversations).
        retry_after: seconds Redis is skipped, after two failures in a row, before the next try.
        max_keys_per_session: anchor, turn and response keys kept per session; past it the oldest
            are deleted (a conversation only ever continues from its newest replies).
        expiry_margin: seconds an idle session's state outlives the timeout (for slow close passes).

    Raises:
        ValueError: a URL of another scheme, or an empty / brace-containing prefix or project.
        TypeError: ``url_or_client`` is neither a URL nor a Redis client.

    Example:
        >>> store = RedisSessionStore("redis://localhost:6379/0", session_timeout=1800)
        >>> align.autoinstrument(session_store=store)
    """

    shared = True

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        session_timeout: float = 1800.0,
        prefix: str = "align",
        project: str | None = None,
        socket_timeout: float = 0.1,
        retry_after: float = 1.0,
        max_keys_per_session: int = 1000,
        expiry_margin: float = 3600.0,
    ) -> None:
        project = project or os.environ.get("ALIGNAI_PROJECT_ID") or LOCAL_PROJECT_ID
        for name, value in (("prefix", prefix), ("project", project)):
            if not value or "{" in value or "}" in value:
                raise ValueError(f"RedisSessionStore {name} must be non-empty, without braces: {value!r}")
        if min(session_timeout, socket_timeout, max_keys_per_session) <= 0:
            raise ValueError("RedisSessionStore session_timeout, socket_timeout and bounds must be > 0")
        if min(retry_after, expiry_margin) < 0:
            raise ValueError("RedisSessionStore retry_after and expiry_margin must be >= 0")
        self._url = _redis_url(url_or_client) if isinstance(url_or_client, str) else None
        if self._url is None and not callable(getattr(url_or_client, "register_script", None)):
            raise TypeError(
                "session_store must be a redis:// URL, a redis.Redis client or a SessionStore, "
                f"not {type(url_or_client).__name__}"
            )
        self.socket_timeout = float(socket_timeout)
        self._keyspace = f"{prefix}:{{{project}}}:"
        self._active_key = self._keyspace + "z"
        memory = max(session_timeout * 48, 86_400.0)
        self._ttls = [_ms(session_timeout), _ms(session_timeout + expiry_margin), _ms(memory)]
        self._memory_ms = _ms(memory)
        self._max_keys = str(int(max_keys_per_session))
        self._claim_batch = "500"
        self._breaker = Breaker(retry_after)
        self._client: redis.Redis | None = None if isinstance(url_or_client, str) else url_or_client
        self._connect()
        _stores.add(self)

    # --- the SessionStore operations -------------------------------------------------------------------

    def begin_turn(self, plan: TurnPlan, now: float) -> TurnClaim:
        args = self._common(now)
        args += [
            plan.user_id,
            plan.new_session_id,
            _optional(plan.session_id),
            _optional(plan.response_key),
            "1" if plan.regenerate_first else "0",
            plan.opening_key.hex(),
            str(plan.opening_count),
            str(plan.history_count),
            str(len(plan.anchors)),
        ]
        for anchor in plan.anchors:
            args.append(str(len(anchor.keys)))
            args.extend(k.hex() for k in anchor.keys)
            args += [anchor.turn_key.hex(), str(anchor.new_count)]
        out = self._call(self._begin, [self._active_key], args)
        sid, user, anchor_i, first, log, opened, continues, regenerates, ambiguous = out
        return TurnClaim(
            _text(sid),
            _text(user),
            int(anchor_i),
            int(first),
            _text(log),
            bool(opened),
            _text(continues),
            int(regenerates),
            bool(ambiguous),
            (),
        )

    def end_turn(self, outcome: TurnOutcome, now: float) -> int:
        args = self._common(now)
        args += [
            outcome.session_id,
            outcome.turn_key.hex(),
            "1" if outcome.has_text else "0",
            str(outcome.status),
            _optional(outcome.response_key or None),
        ]
        args.extend(k.hex() for k in outcome.anchor_keys)
        return int(self._call(self._end, [self._active_key], args))

    def fail_turn(self, session_id: str, turn_key: bytes, now: float) -> None:
        turn = self._keyspace + "t:" + turn_key.hex()
        self._call(self._fail, [turn], [session_id, str(FAILED), str(INFLIGHT)])

    def get_response(self, response_key: str) -> ResponsePoint | None:
        client = self._client
        assert client is not None
        found = self._call(client.hmget, self._keyspace + "r:" + response_key, ["s", "i"])
        if found is None or found[0] is None:
            return None
        return ResponsePoint(_text(found[0]), int(found[1] or 0) or None)

    def put_response(self, response_key: str, point: ResponsePoint) -> None:
        args = [*self._common(time.time()), response_key, point.session_id, str(point.message_index or 0)]
        self._call(self._put_response, [self._active_key], args)

    def claim_expired(self, inactive_since: float) -> list[str]:
        if self._skipping():
            return []  # Redis is away: nothing can be claimed; the sessions close once it is back
        args = [self._keyspace, repr(float(inactive_since)), self._memory_ms, self._claim_batch]
        return [_text(sid) for sid in self._call(self._claim, [self._active_key], args)]

    def pop_all(self) -> list[str]:
        return []  # the other processes go on with the shared sessions; they close on inactivity

    # --- health -----------------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """``errors`` (failed Redis calls), ``skipped`` (calls not tried while Redis was away),
        ``outages`` (times Redis became unavailable), ``down`` (1 while it is)."""
        return self._breaker.stats()

    def _skipping(self) -> bool:
        return self._breaker.skipping()

    def _call(self, function: Any, *args: Any) -> Any:
        breaker = self._breaker
        if breaker.skip():
            raise StoreUnavailable("Redis session store skipped after recent failures")
        try:
            result = function(*args)
        except Exception as exc:
            breaker.failed(exc)
            raise StoreUnavailable(f"Redis session store failed: {type(exc).__name__}") from exc
        breaker.succeeded()
        return result

    # --- internals -------------------------------------------------------------------------------------

    def _common(self, now: float) -> list[str]:
        return [self._keyspace, repr(float(now)), *self._ttls, self._max_keys]

    def _connect(self) -> None:
        if self._url is not None:
            self._client = redis.Redis.from_url(
                self._url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=Retry(NoBackoff(), 0),  # a retry would double the wait; the breaker retries later
                health_check_interval=0,
            )
        client = self._client
        assert client is not None
        self._begin = client.register_script(redis_scripts.BEGIN_TURN)
        self._end = client.register_script(redis_scripts.END_TURN)
        self._fail = client.register_script(redis_scripts.FAIL_TURN)
        self._put_response = client.register_script(redis_scripts.PUT_RESPONSE)
        self._claim = client.register_script(redis_scripts.CLAIM_EXPIRED)

    def _reset_after_fork(self) -> None:
        """A forked child gets its own connections (sockets shared with the parent would mix replies)."""
        self._breaker = Breaker(self._breaker.retry_after)
        if self._url is not None:
            self._connect()
        else:  # the app's client: its pool would notice the new pid too; do not rely on it
            pool = getattr(self._client, "connection_pool", None)
            if pool is not None:
                pool.reset()

    def key_names(self) -> list[str]:
        """Every key of this store's namespace (for tests and operators; a SCAN, not for hot paths)."""
        client = self._client
        assert client is not None
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self._keyspace) + "*"
        return sorted(_text(k) for k in client.scan_iter(match=pattern, count=1000))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keyspace={self._keyspace!r})"


class Breaker:
    """Skips Redis for ``retry_after`` seconds once it has failed twice in a row (an isolated slow
    reply costs that one call; a hung or dead Redis, one try per interval). Logs each outage once."""

    FAILURES_TO_OPEN = 2

    def __init__(self, retry_after: float) -> None:
        self.retry_after = float(retry_after)
        self._lock = threading.Lock()
        self._counters = {"errors": 0, "skipped": 0, "outages": 0}
        self._consecutive = 0
        self._down_since: float | None = None
        self._skip_until = 0.0

    def skipping(self) -> bool:
        return self._down_since is not None and time.monotonic() < self._skip_until

    def skip(self) -> bool:
        """Whether to skip Redis for this call (counted)."""
        if not self.skipping():
            return False
        with self._lock:
            self._counters["skipped"] += 1
        return True

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self._counters["errors"] += 1
            self._consecutive += 1
            if self._consecutive < self.FAILURES_TO_OPEN:
                return
            self._skip_until = now + self.retry_after
            if self._down_since is not None:
                return
            self._down_since = now
            self._counters["outages"] += 1
        logger.warning(
            "align_instrument: the Redis session store is unavailable (%s: %s); calls use this "
            "process's memory (conversations may split into several sessions) and Redis is "
            "retried every %.1f s",
            type(exc).__name__,
            exc,
            self.retry_after,
        )

    def succeeded(self) -> None:
        if not self._consecutive and self._down_since is None:
            return
        with self._lock:
            self._consecutive = 0
            down_since, self._down_since = self._down_since, None
        if down_since is not None:
            logger.warning(
                "align_instrument: the Redis session store is reachable again after %.1f s",
                time.monotonic() - down_since,
            )

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counters, "down": int(self._down_since is not None)}


def _redis_url(url: str) -> str:
    if not url.startswith(URL_SCHEMES):
        schemes = ", ".join(URL_SCHEMES)
        raise ValueError(f"session store URL must start with {schemes}: {_redacted(url)!r}")
    return "redis" + url[len("valkey") :] if url.startswith("valkey") else url


def _redacted(url: str) -> str:
    """A URL without its password (for error messages)."""
    head, sep, tail = url.partition("@")
    return url if not sep else head.split("//", 1)[0] + "//***@" + tail
