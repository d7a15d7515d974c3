"""The wrappers around the SDK's ``request`` methods: begin a turn, call through, capture the reply.

Never changes the request, never changes the result type (SDK objects or transparent proxies),
lets every provider exception through untouched, and contains our own errors.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..._internal import capture_internal_exceptions, report_internal_error
from ...sessions.context import SUPPRESS_PROVIDER_CAPTURE
from ...sessions.engine import SessionEngine
from .._call import client_partition, make_call_wrapper
from ._request import is_messages_call, read_request
from ._stream import AnthropicCapture, AsyncStreamProxy, Capture, CaptureProxy, StreamProxy


def _partition(instance: Any) -> str:
    """Partition by the client's ``api_key``, else its ``auth_token``."""
    credential = getattr(instance, "api_key", None) or getattr(instance, "auth_token", None)
    return client_partition(instance, credential, b"align-ant")


def _begin(
    engine: SessionEngine, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AnthropicCapture | None:
    """The capture of this call, or None to pass it through; never raises."""
    if SUPPRESS_PROVIDER_CAPTURE.get():  # a LangChain / LlamaIndex run logs this turn itself
        return None
    try:
        options = args[1] if len(args) > 1 else kwargs.get("options")
        if not is_messages_call(options):
            return None
        body = getattr(options, "json_data", None)
        if not isinstance(body, Mapping):
            return None
        info = read_request(body)
        turn = engine.begin_turn(partition=_partition(instance), messages=info.items, user_id=info.user_id)
        return AnthropicCapture(engine, turn, info.model)
    except Exception:
        report_internal_error(engine.client, "anthropic_request")
        return None


try:
    from anthropic import AsyncStream, BaseModel, Stream
except Exception:  # pragma: no cover - only imported once the SDK is known to be installed

    class BaseModel:  # type: ignore[no-redef]
        pass

    Stream = AsyncStream = BaseModel  # type: ignore[misc,assignment]


def _finish(capture: Capture, result: Any) -> Any:
    """Attach the capture to what the SDK returned; returns it or a transparent proxy."""
    if isinstance(result, BaseModel):  # the common case: a Message
        capture.finish_response(result)
        return result
    if isinstance(result, Stream):
        return StreamProxy(result, capture)
    if isinstance(result, AsyncStream):
        return AsyncStreamProxy(result, capture)
    parse = getattr(result, "parse", None)
    if parse is not None and hasattr(result, "http_response"):  # with_raw_response / with_streaming_response
        if inspect.iscoroutinefunction(parse):
            return AsyncRawResponseProxy(result, capture)
        return RawResponseProxy(result, capture)
    capture.finish_response(result)
    return result


class _RawProxy(CaptureProxy):
    def __init__(self, wrapped: Any, capture: Capture) -> None:
        super().__init__(wrapped, capture)
        self._self_parsed: Any = None

    def _self_wrap(self, parsed: Any) -> Any:
        """The parsed result, captured once (``parse()`` may be called again and is cached by the SDK)."""
        cached = self._self_parsed
        if cached is not None and getattr(cached, "__wrapped__", cached) is parsed:
            return cached
        result = parsed
        capture = self._self_capture
        with capture_internal_exceptions(capture.engine.client, "anthropic_parse"):
            result = _finish(capture, parsed)
        self._self_parsed = result
        return result


class RawResponseProxy(_RawProxy):
    """Proxy of ``APIResponse``: the reply is captured when the app parses it."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_wrap(self.__wrapped__.parse(*args, **kwargs))

    def __enter__(self) -> RawResponseProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.__wrapped__.__exit__(*exc)


class AsyncRawResponseProxy(_RawProxy):
    """Proxy of ``AsyncAPIResponse``: the reply is captured when the app awaits ``parse()``."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_wrap(await self.__wrapped__.parse(*args, **kwargs))

    async def __aenter__(self) -> AsyncRawResponseProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.__wrapped__.__aexit__(*exc)


def make_transport_wrapper(engine: SessionEngine, is_async: bool) -> Any:
    """The wrapt wrapper for ``SyncAPIClient.request`` (or the async one)."""

    def begin(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Capture | None:
        return _begin(engine, instance, args, kwargs)

    return make_call_wrapper(engine.client, begin, _finish, is_async, "anthropic")
