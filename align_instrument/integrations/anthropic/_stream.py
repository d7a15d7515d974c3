"""Capturing a Messages API reply, from a ``Message`` or from the stream the app reads.

The stream proxies are the OpenAI integration's (``anthropic.Stream`` / ``AsyncStream`` have the
same iteration, context-manager and ``close`` protocol): transparent wrapt proxies that pass
``isinstance`` checks and log the reply exactly once, however the stream ends. The ``.stream()``
helper (``MessageStream``) iterates and closes the raw stream it was given, which is our proxy,
so its ``text_stream``, ``get_final_message()`` and ``with`` block are covered too.
"""

from __future__ import annotations

from ...sessions.engine import SessionEngine, Turn
from ..openai._stream import AsyncStreamProxy, Capture, CaptureProxy, StreamProxy
from ._response import AnthropicReply

__all__ = ["AnthropicCapture", "AsyncStreamProxy", "Capture", "CaptureProxy", "StreamProxy"]


class AnthropicCapture(Capture):
    """One captured Messages API call: its turn and the reply read so far (ended at most once)."""

    __slots__ = ()
    ERROR_PREFIX = "anthropic"

    def __init__(self, engine: SessionEngine, turn: Turn, model: str | None) -> None:
        super().__init__(engine, turn, model)
        self.reply = AnthropicReply(model)
