"""The call-through every provider integration wraps around the SDK's request method: begin a
turn, call the original, capture the result. The provider's result or exception reaches the app
unchanged; our own errors are contained and counted."""

from __future__ import annotations

from collections.abc import Callable
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
