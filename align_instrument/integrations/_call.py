"""What every provider integration shares around the SDK's request method: the call-through
(begin a turn, call the original, capture the result; the provider's result or exception reaches
the app unchanged, our own errors are contained and counted) and the implicit-threading
partition of a client."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

from .._internal import ErrorCounter, report_internal_error

Begin = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]
"""(instance, args, kwargs) -> the capture of this call, or None to pass it through; never raises."""

Finish = Callable[[Any, Any], Any]
"""(capture, result) -> what the app gets: the result, or a transparent proxy of it."""


def make_call_wrapper(
    counter: ErrorCounter, begin: Begin, finish: Finish, is_async: bool, prefix: str
) -> Any:
    """The wrapt wrapper (sync or async); internal errors counted as ``<prefix>_result``."""
    error_kind = f"{prefix}_result"

    if is_async:

        async def async_wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            capture = begin(instance, args, kwargs)
            if capture is None:
                return await wrapped(*args, **kwargs)
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException:
                capture.fail()
                raise
            try:
                return finish(capture, result)
            except Exception:
                report_internal_error(counter, error_kind)
                return result

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        capture = begin(instance, args, kwargs)
        if capture is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException:
            capture.fail()
            raise
        try:
            return finish(capture, result)
        except Exception:
            report_internal_error(counter, error_kind)
            return result

    return wrapper


_partitions: weakref.WeakKeyDictionary[Any, tuple[object, object, str]] = weakref.WeakKeyDictionary()


def client_partition(instance: Any, credential: object, person: bytes) -> str:
    """Implicit-threading partition of an SDK client: its base URL and a digest of its credential.

    Memoised per client object (formatting the URL and hashing the key cost more than the rest of
    a call's bookkeeping), and recomputed when the app changes the client's key or base URL.
    """
    base_url = getattr(instance, "_base_url", None)
    try:
        cached = _partitions.get(instance)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is not None and cached[0] is credential and cached[1] is base_url:
        return cached[2]
    digest = blake2b(str(credential or "").encode(), digest_size=8, person=person).hexdigest()
    partition = f"{getattr(instance, 'base_url', '')}#{digest}"
    with contextlib.suppress(TypeError):
        _partitions[instance] = (credential, base_url, partition)
    return partition
