"""Capturing a turn's reply: from a response object, or from a stream the app reads.

The stream proxies are ``wrapt.ObjectProxy`` subclasses: they pass ``isinstance(x, openai.Stream)``
(``AsyncStream``), forward every attribute, iterate and work as context managers as before, and
log the assistant message exactly once however the stream ends:

- read to its final chunk (a finish reason / ``response.completed``) -> complete;
- ``with`` exit, ``close()`` / ``aclose``, early ``break`` (the iteration is closed), garbage
  collection (``__del__``), an exception mid-stream, task cancellation, or a stream that simply
  stops before its final chunk (a connection dropped at a frame boundary looks like a normal end
  to the SDK) -> the text read so far, marked ``incomplete``.

All state is in ``_self_*`` attributes (kept on the proxy, not the stream).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import wrapt

from ..._internal import report_internal_error
from ...sessions.engine import SessionEngine, Turn
from ...sessions.store import MessageRef
from ._response import Reply

if TYPE_CHECKING:
    ProxyBase = wrapt.ObjectProxy[Any]
else:
    ProxyBase = wrapt.ObjectProxy


class Capture:
    """One captured call: its turn and the reply read so far. Ends the turn at most once."""

    __slots__ = ("done", "engine", "ref", "reply", "turn")

    ERROR_PREFIX = "openai"  # internal errors are counted as ``<prefix>_response`` etc.

    def __init__(self, engine: SessionEngine, turn: Turn, model: str | None) -> None:
        self.engine = engine
        self.turn = turn
        self.reply = Reply(model)
        self.done = False
        self.ref: MessageRef | None = None

    def finish_response(self, response: Any) -> None:
        """The call returned a whole response object."""
        if self.done:
            return
        try:
            self.reply.read_response(response)
        except Exception:
            report_internal_error(self.engine.client, self.ERROR_PREFIX + "_response")
        self.end(incomplete=False)

    def on_item(self, item: Any) -> None:
        """One stream item (chunk or event) reached the app."""
        if self.done:
            return
        try:
            self.reply.read_chunk(item)
        except Exception:
            report_internal_error(self.engine.client, self.ERROR_PREFIX + "_chunk")

    def end(self, *, incomplete: bool) -> None:
        """Log the reply (once)."""
        if self.done:
            return
        self.done = True
        try:
            reply = self.reply
            self.ref = self.engine.end_turn(
                self.turn,
                reply.text,
                tool_call_ids=reply.tool_call_ids,
                properties=reply.properties(),
                response_id=reply.response_id,
                incomplete=incomplete,
                alternatives=reply.alternatives,
            )
        except Exception:
            report_internal_error(self.engine.client, self.ERROR_PREFIX + "_reply")

    def end_stream(self) -> None:
        """The stream stopped being read, for whatever reason."""
        self.end(incomplete=not self.reply.saw_end)

    def fail(self) -> None:
        """The provider call raised."""
        if self.done:
            return
        self.done = True
        try:
            self.engine.fail_turn(self.turn)
        except Exception:
            report_internal_error(self.engine.client, self.ERROR_PREFIX + "_fail")

    def message_ref(self) -> tuple[MessageRef | None, str | None]:
        return self.ref, self.reply.response_id


def _iterate(owner: StreamProxy) -> Iterator[Any]:
    """The iterator ``iter(proxy)`` returns: ends the capture however the iteration ends.

    It holds its proxy, so the proxy (and its finalizer) lives as long as the iteration does: apps
    often keep only the iterator, as in ``for chunk in create(..., stream=True)`` or
    ``"".join(... for c in create(..., stream=True))``, where the proxy itself is dropped at once.
    """
    capture = owner._self_capture
    try:
        for item in owner.__wrapped__:
            capture.on_item(item)
            yield item
    finally:
        capture.end_stream()


class CaptureProxy(ProxyBase):
    """A transparent wrapt proxy carrying the capture of the call that produced it."""

    def __init__(self, wrapped: Any, capture: Capture) -> None:
        super().__init__(wrapped)
        self._self_capture = capture

    def __align_message_ref__(self) -> tuple[MessageRef | None, str | None]:
        return self._self_capture.message_ref()


class _StreamCaptureProxy(CaptureProxy):
    """A stream's proxy: the reply is logged once when the stream ends, however it ends."""

    def __align_end_stream__(self) -> None:
        self._self_capture.end_stream()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self._self_capture.end_stream()


class StreamProxy(_StreamCaptureProxy):
    """Transparent proxy of an ``openai.Stream`` that logs the reply when the stream ends."""

    def __iter__(self) -> Iterator[Any]:
        return _iterate(self)

    def __next__(self) -> Any:
        capture = self._self_capture
        try:
            item = self.__wrapped__.__next__()
        except BaseException:  # StopIteration (the end) or an error
            capture.end_stream()
            raise
        capture.on_item(item)
        return item

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_capture.end_stream()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_capture.end_stream()


class AsyncStreamProxy(_StreamCaptureProxy):
    """Transparent proxy of an ``openai.AsyncStream`` that logs the reply when the stream ends."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        capture = self._self_capture
        try:
            item = await self.__wrapped__.__anext__()
        except BaseException:  # StopAsyncIteration (the end), an error, or task cancellation
            capture.end_stream()
            raise
        capture.on_item(item)
        return item

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_capture.end_stream()

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_capture.end_stream()

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_capture.end_stream()
