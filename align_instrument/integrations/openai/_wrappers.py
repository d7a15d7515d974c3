"""The wrappers around the SDK's request methods: begin a turn, call through, capture the reply.

Never changes the request, never changes the result type (SDK objects or transparent proxies),
lets every provider exception through untouched, and contains our own errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._internal import capture_internal_exceptions, report_internal_error
from ...sessions.context import SUPPRESS_PROVIDER_CAPTURE
from ...sessions.engine import SessionEngine
from .._call import client_partition, make_call_wrapper
from ._request import endpoint_kind, read_request
from ._stream import AsyncStreamProxy, Capture, CaptureProxy, StreamProxy


def _partition(instance: Any) -> str:
    return client_partition(instance, getattr(instance, "api_key", None), b"align-oai")


def _begin(engine: SessionEngine, instance: Any, body: Any, kind: str) -> Capture | None:
    if not isinstance(body, Mapping):
        return None
    info = read_request(kind, body)
    turn = engine.begin_turn(
        partition=_partition(instance),
        messages=info.items,
        user_id=info.user_id,
        session_id=info.session_id,
        previous_response_id=info.previous_response_id,
        delta=info.delta,
    )
    return Capture(engine, turn, info.model)


def _request_options(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[1] if len(args) > 1 else kwargs.get("options")


def _begin_transport(
    engine: SessionEngine, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Capture | None:
    options = _request_options(args, kwargs)
    kind = endpoint_kind(options)
    if kind is None:
        return None
    return _begin(engine, instance, getattr(options, "json_data", None), kind)


try:
    from openai import BaseModel as _BaseModel
except Exception:  # pragma: no cover - an SDK without it: every result takes the generic path

    class _BaseModel:  # type: ignore[no-redef]
        pass


def _finish(capture: Capture, result: Any) -> Any:
    """Attach the capture to what the SDK returned; returns it or a transparent proxy."""
    if isinstance(result, _BaseModel):  # the common case: a parsed ChatCompletion / Response
        capture.finish_response(result)
        return result
    from openai import AsyncStream, Stream

    if isinstance(result, Stream):
        return StreamProxy(result, capture)
    if isinstance(result, AsyncStream):
        return AsyncStreamProxy(result, capture)
    parse = getattr(result, "parse", None)
    if parse is not None and hasattr(result, "http_response"):  # raw / streaming-response wrappers
        import inspect

        if inspect.iscoroutinefunction(parse):
            return AsyncRawResponseProxy(result, capture)
        return RawResponseProxy(result, capture)
    capture.finish_response(result)
    return result


def _wrap_parsed(capture: Capture, parsed: Any) -> Any:
    with capture_internal_exceptions(capture.engine.client, "openai_parse"):
        return _finish(capture, parsed)
    return parsed


class RawResponseProxy(CaptureProxy):
    """Proxy of ``LegacyAPIResponse`` / ``APIResponse``: the reply is captured when the app parses it."""

    def __init__(self, wrapped: Any, capture: Capture) -> None:
        super().__init__(wrapped, capture)
        self._self_parsed: Any = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self.__wrapped__.parse(*args, **kwargs)
        cached = self._self_parsed
        if cached is not None and getattr(cached, "__wrapped__", cached) is parsed:
            return cached
        self._self_parsed = result = _wrap_parsed(self._self_capture, parsed)
        return result

    def __enter__(self) -> RawResponseProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.__wrapped__.__exit__(*exc)


class AsyncRawResponseProxy(CaptureProxy):
    """Proxy of ``AsyncAPIResponse``: the reply is captured when the app awaits ``parse()``."""

    def __init__(self, wrapped: Any, capture: Capture) -> None:
        super().__init__(wrapped, capture)
        self._self_parsed: Any = None

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = await self.__wrapped__.parse(*args, **kwargs)
        cached = self._self_parsed
        if cached is not None and getattr(cached, "__wrapped__", cached) is parsed:
            return cached
        self._self_parsed = result = _wrap_parsed(self._self_capture, parsed)
        return result

    async def __aenter__(self) -> AsyncRawResponseProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.__wrapped__.__aexit__(*exc)


def make_transport_wrapper(engine: SessionEngine, is_async: bool) -> Any:
    """The wrapt wrapper for ``SyncAPIClient.request`` (or the async one)."""

    def begin(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Capture | None:
        if SUPPRESS_PROVIDER_CAPTURE.get():
            return None
        try:
            return _begin_transport(engine, instance, args, kwargs)
        except Exception:
            report_internal_error(engine.client, "openai_request")
            return None

    return make_call_wrapper(engine.client, begin, _finish, is_async, "openai")


def make_resource_wrapper(engine: SessionEngine, kind: str, is_async: bool) -> Any:
    """The wrapt wrapper for a resource ``create`` (fallback): the body is the keyword arguments."""

    def begin(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Capture | None:
        if SUPPRESS_PROVIDER_CAPTURE.get():
            return None
        try:
            return _begin(engine, getattr(instance, "_client", None), kwargs, kind)
        except Exception:
            report_internal_error(engine.client, "openai_request")
            return None

    return make_call_wrapper(engine.client, begin, _finish, is_async, "openai")


def _end_helper_stream(instance: Any) -> None:
    end = getattr(getattr(instance, "_raw_stream", None), "__align_end_stream__", None)
    if end is not None:
        end()


def make_helper_close_wrapper(engine: SessionEngine, is_async: bool) -> Any:
    """The wrapt wrapper for a ``.stream()`` helper's ``close``: ends the capture of its stream."""
    client = engine.client

    if is_async:

        async def async_wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            try:
                return await wrapped(*args, **kwargs)
            finally:
                with capture_internal_exceptions(client, "openai_helper_close"):
                    _end_helper_stream(instance)

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            with capture_internal_exceptions(client, "openai_helper_close"):
                _end_helper_stream(instance)

    return wrapper
