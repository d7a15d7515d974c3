"""The session engine shared by the integrations: scopes, threading, indexes, closes.

- :mod:`.context`: the ``align.session(...)`` scope, :func:`current_session`, ``SUPPRESS_PROVIDER_CAPTURE``.
- :mod:`.messages`: canonical conversation items and their digests.
- :mod:`.resolution`: which session a request continues (anchor and turn keys; pure hashing).
- :mod:`.store`: the :class:`SessionStore` interface (two atomic operations per call) and its data.
- :mod:`.memory_store`: :class:`InMemorySessionStore`, the default and the reference semantics.
- :mod:`.engine`: :class:`SessionEngine` (``begin_turn`` / ``end_turn`` / ``fail_turn``): logging.
- :mod:`.scheduler`: the one daemon thread that closes idle sessions.
"""

from __future__ import annotations

from .context import SUPPRESS_PROVIDER_CAPTURE, SessionScope, current_scope, current_session, session
from .engine import CONTINUES_PROPERTY, DEFAULT_ASSISTANT_PROPERTIES, SessionEngine, Turn
from .memory_store import InMemorySessionStore
from .messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem
from .store import MessageRef, ResponsePoint, SessionStore

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
    "ResponsePoint",
    "SessionEngine",
    "SessionScope",
    "SessionStore",
    "Turn",
    "current_scope",
    "current_session",
    "session",
]
