"""One HTTP POST of a batch, and what its failure means, for the delivery worker.

``requests`` (with urllib3 and charset detection, about 100 ms to import) is imported when the
first batch is posted, on the worker thread, not when the app imports ``align_instrument``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import time
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlparse

from ._internal import redact_key

if TYPE_CHECKING:
    import requests


class PostResult(NamedTuple):
    status: int
    """The HTTP status; 0 when no answer came (a network error)."""
    retry_after: float | None
    """Seconds the server asked to wait (``Retry-After``), else None."""
    message: str
    """Why it failed, for a person: never contains the API key."""
    unreachable: bool = False
    """No connection could be made at all (refused, unknown host): nothing is listening there."""


_importing = threading.Lock()
_held_for_fork: list[threading.Lock] = []


def new_session(url: str) -> requests.Session:
    """A keep-alive HTTP session for ``url``; imports ``requests`` and what it imports lazily on a
    first request (``netrc``, the ``idna`` codec), with ``fork()`` held off meanwhile."""
    with _importing:
        import requests

        session = requests.Session()
        session.prepare_request(requests.Request("POST", url, data=b""))
        with contextlib.suppress(UnicodeError):
            (urlparse(url).hostname or "").encode("idna")
    return session


def _before_fork() -> None:
    # A child forked in the middle of that import would find ``requests`` half-imported, its module
    # lock held by a thread that does not exist there, and hang on its first send. The import runs
    # once per process, so a fork waits for it at most that once (and never more than 5 s).
    if _importing.acquire(timeout=5):
        _held_for_fork.append(_importing)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


def _after_fork_in_child() -> None:
    global _importing
    _held_for_fork.clear()
    _importing = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
    )


def post(
    http: requests.Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    api_key: str | None,
) -> PostResult:
    """POST ``body``; a network error is a result with status 0, never an exception."""
    import requests

    try:
        response = http.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        reason = connect_failure(exc, url)
        if reason is not None:
            return PostResult(0, None, reason, unreachable=True)
        return PostResult(0, None, redact_key(type(exc).__name__ + ": " + str(exc), api_key)[:300])
    if response.status_code == 200:
        return PostResult(200, None, "")
    return PostResult(
        response.status_code,
        parse_retry_after(response.headers.get("Retry-After")),
        redact_key(" ".join(response.text[:500].split()), api_key),
    )


def connect_failure(exc: BaseException, url: str) -> str | None:
    """A short reason when ``exc`` says no connection could be made to ``url`` (refused, unknown
    host, unreachable network), else None (a timeout or a dropped connection: the host is there)."""
    import socket

    from urllib3.exceptions import NewConnectionError  # NameResolutionError (urllib3 2) is one too

    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        parsed = urlparse(url)
        where = f"{parsed.hostname}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
        if isinstance(item, NewConnectionError):
            cause = item.__cause__ or item.__context__
            if isinstance(cause, socket.gaierror):
                return f"cannot resolve the host name {parsed.hostname!r}"
            if isinstance(cause, ConnectionRefusedError):
                return f"cannot connect to {where}: connection refused (is the server running there?)"
            detail = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause or item)
            return f"cannot connect to {where}: {detail}"
        todo.extend(a for a in item.args if isinstance(a, BaseException))
        todo.extend(x for x in (getattr(item, "reason", None), item.__cause__, item.__context__) if x)
    return None


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    hostname = urlparse(url).hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
