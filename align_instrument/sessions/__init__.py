"""The session engine shared by the integrations: scopes, threading, indexes, closes.

- :mod:`.context`: the ``align.session(...)`` scope, :func:`current_session`, ``SUPPRESS_PROVIDER_CAPTURE``.
- :mod:`.messages`: canonical conversation items and their digests.
- :mod:`.resolution`: which session a request continues (anchor and turn keys; pure hashing).
- :mod:`.store`: the :class:`SessionStore` interface (two atomic operations per call) and its data.
- :mod:`.memory_store`: :class:`InMemorySessionStore`, the default and the reference semantics.
- :mod:`.redis_store`: :class:`RedisSessionStore`, shared by worker processes (imported on first
  use: the ``redis`` package is an optional extra).
- :mod:`.engine`: :class:`SessionEngine` (``begin_turn`` / ``end_turn`` / ``fail_turn``): logging.
- :mod:`.lifecycle`: when sessions end (idle, evicted, at close or exit).
- :mod:`.scheduler`: the one daemon thread that closes idle sessions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import SUPPRESS_PROVIDER_CAPTURE, SessionScope, current_scope, current_session, session
from .engine import CONTINUES_PROPERTY, DEFAULT_ASSISTANT_PROPERTIES, SessionEngine, Turn
from .memory_store import InMemorySessionStore
from .messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem
from .store import MessageRef, ResponsePoint, SessionStore

if TYPE_CHECKING:
    from .redis_store import RedisSessionStore


def __getattr__(name: str) -> Any:
    if name == "RedisSessionStore":  # imports redis only when asked for
        from .redis_store import RedisSessionStore

        return RedisSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ASSISTANT",
    "CONTINUES_PROPERTY",
    "DEFAULT_ASSISTANT_PROPERTIES",
    "SUPPRESS_PROVIDER_CAPTURE",
    "TOOL_CALLS",
    "TOOL_RESULT",
    "USER",
    "ChatItem",
    "InMemorySessionStore",
    "MessageRef",
    "RedisSessionStore",
    "ResponsePoint",
    "SessionEngine",
    "SessionScope",
    "SessionStore",
    "Turn",
    "current_scope",
    "current_session",
    "session",
]
