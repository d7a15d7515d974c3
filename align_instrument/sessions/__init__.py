"""The session engine shared by the integrations: scopes, threading, indexes, pending replies, closes.

- :mod:`.context`: the ``align.session(...)`` scope, :func:`current_session`, ``SUPPRESS_PROVIDER_CAPTURE``.
- :mod:`.messages`: canonical conversation items and their chained hash.
- :mod:`.store`: the :class:`SessionStore` interface and its in-memory implementation.
- :mod:`.engine`: :class:`SessionEngine` (``begin_turn`` / ``end_turn`` / ``fail_turn``).
- :mod:`.scheduler`: the one daemon thread that settles replies and closes idle sessions.
"""

from .context import SUPPRESS_PROVIDER_CAPTURE, SessionScope, current_scope, current_session, session
from .engine import DEFAULT_ASSISTANT_PROPERTIES, SessionEngine, Turn
from .messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem
from .store import InMemorySessionStore, MessageRef, ResponsePoint, SessionState, SessionStore, ThreadPoint

__all__ = [
    "ASSISTANT",
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
    "SessionState",
    "SessionStore",
    "ThreadPoint",
    "Turn",
    "current_scope",
    "current_session",
    "session",
]
