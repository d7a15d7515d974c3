"""``AlignChatMessageHistory``: any LangChain chat history, logged to Align as one session."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from ..._internal import capture_internal_exceptions
from ...client import AlignClient
from ...events import DEFAULT_ASSISTANT_ID, ROLE_ASSISTANT, ROLE_USER, check_id
from .._user import IdentifiesUser
from ._convert import content_text, is_loggable, message_role

# Session ids whose messages an open AlignChatMessageHistory logs. The callback handler skips
# runs in these sessions, so RunnableWithMessageHistory with autoinstrument() active still logs
# each message once. A count, because two history objects may wrap the same session.
_owned_sessions: dict[str, int] = {}
_owned_lock = threading.Lock()


def _claim(session_id: str) -> None:
    with _owned_lock:
        _owned_sessions[session_id] = _owned_sessions.get(session_id, 0) + 1


def _release(session_id: str) -> None:
    with _owned_lock:
        left = _owned_sessions.get(session_id, 0) - 1
        if left > 0:
            _owned_sessions[session_id] = left
        else:
            _owned_sessions.pop(session_id, None)


def history_owns_session(session_id: str) -> bool:
    """True while an open :class:`AlignChatMessageHistory` logs the session ``session_id``."""
    return session_id in _owned_sessions


def open_history_count() -> int:
    """How many sessions open :class:`AlignChatMessageHistory` objects log (0 makes checks free)."""
    return len(_owned_sessions)


class UserInfo(TypedDict, total=False):
    """Optional user details sent with ``identify_user`` when the history is created (all optional).

    Attributes:
        display_name: shown on the dashboard, at most 64 characters.
        email: at most 256 characters.
        ip: an IPv4 address (``country_code`` overrides it).
        country_code: ISO 3166-1 alpha-2.
        create_time: when the user was created (naive: UTC).
        custom_properties: up to 10 ``{key: value}`` pairs, Align's key and value rules.
    """

    display_name: str | None
    email: str | None
    ip: str | None
    country_code: str | None
    create_time: datetime | None
    custom_properties: Mapping[str, str | int | float | bool] | None


class AlignChatMessageHistory(IdentifiesUser, BaseChatMessageHistory):
    """Wraps a LangChain chat history so that its conversation is logged to Align as one session.

    Behaves like the official ``alignai`` SDK's LangChain ``ChatMessageHistory``: on creation it
    opens the session (and identifies the user when ``user_info`` has any detail); every human
    message, and every AI message that has text (a tool-call step without text is skipped), added
    to the history is logged with the next message index; :meth:`close` closes the session.
    Messages are stored in, and read from, ``history_backend``; the index continues from the
    number of loggable messages the backend already holds, so a persisted history reopened later
    keeps its numbering.

    Logging never breaks the history: an error while logging a message is caught and counted in
    ``client.stats()["internal_errors"]``; the backend's own errors reach the caller unchanged.
    While a history is open, the callback handler that ``autoinstrument()`` registers leaves to it
    the runs inside a ``RunnableWithMessageHistory`` and the runs whose metadata names its session
    id, so nothing is logged twice: when you call a model with the history's messages yourself,
    pass ``config={"metadata": {"session_id": history.session_id}}``. (Under ``autoinstrument()``,
    while any history is open, every ``RunnableWithMessageHistory`` run is left to the histories.)

    Args:
        history_backend: any ``BaseChatMessageHistory`` (in memory, Redis, SQL, a file, ...).
        client: the :class:`~align_instrument.AlignClient` (or ``AlignAI``) that sends the events.
        session_id: the Align session id, at most 64 characters.
        user_id: the user the session belongs to, at most 64 characters.
        assistant_id: which assistant answers (default ``"DEFAULT"``).
        user_info: optional ``display_name``, ``email``, ``ip``, ``country_code``, ``create_time``,
            ``custom_properties`` sent with ``identify_user``.

    Raises:
        ValidationError: an id or a ``user_info`` field breaks its Align rule (nothing is sent).

    Example:
        >>> history = AlignChatMessageHistory(InMemoryChatMessageHistory(), client, "s-1", "u-1")
        >>> history.add_user_message("Hi!")        # logged as message 1
        >>> history.add_ai_message("Hello!")       # logged as message 2
        >>> history.close()
    """

    def __init__(
        self,
        history_backend: BaseChatMessageHistory,
        client: AlignClient,
        session_id: str,
        user_id: str,
        assistant_id: str | None = None,
        user_info: UserInfo | Mapping[str, Any] | None = None,
    ) -> None:
        self.backend = history_backend
        self.client = client
        self.session_id = check_id("session_id", session_id)
        self.user_id = check_id("user_id", user_id)
        self.assistant_id = DEFAULT_ASSISTANT_ID if assistant_id is None else assistant_id
        self._lock = threading.Lock()
        # The next index never goes below one already used, even after clear() empties the backend.
        self._index_floor = 1
        self._closed = False
        client.open_session(self.session_id, self.user_id, self.assistant_id)
        if user_info and any(value is not None for value in user_info.values()):
            self.identify_user(**dict(user_info))
        _claim(self.session_id)
        # Released by close(), or when the history is garbage collected unclosed (apps often keep
        # histories in a dict and never close them; a dropped one must not hide runs forever).
        self._release = weakref.finalize(self, _release, self.session_id)

    # --- BaseChatMessageHistory ------------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]  # base declares an attribute
        """The backend's messages."""
        return self.backend.messages

    async def aget_messages(self) -> list[BaseMessage]:
        """The backend's messages, read with its async API."""
        return await self.backend.aget_messages()

    def add_message(self, message: BaseMessage) -> None:
        """Store ``message`` in the backend, then log it when it is a human or AI text message."""
        self.add_messages([message])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store ``messages`` in the backend (one bulk call), then log the human and AI ones in order."""
        first = self._reserve_indexes(self.backend.messages, messages)
        self.backend.add_messages(messages)
        self._log(messages, first)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`, through the backend's async API."""
        first = self._reserve_indexes(await self.backend.aget_messages(), messages)
        await self.backend.aadd_messages(messages)
        self._log(messages, first)

    def clear(self) -> None:
        """Clear the backend. The Align session stays open and its numbering continues."""
        self.backend.clear()

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self.backend.aclear()

    # --- Align ------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the Align session (``close_session``). Messages added later are stored but not logged.

        Calling it again does nothing.

        Example:
            >>> history.close()
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()
        with capture_internal_exceptions(self.client, "langchain_history_close"):
            self.client.close_session(self.session_id)

    # --- internals --------------------------------------------------------------------------------------

    def _reserve_indexes(self, stored: Sequence[BaseMessage], new: Sequence[BaseMessage]) -> int:
        """The index of the first loggable message of ``new``; reserves the range for it.

        Counting the backend keeps the numbering of a persisted history; the floor keeps two
        concurrent writers (or a write after clear()) from reusing an index.
        """
        with capture_internal_exceptions(self.client, "langchain_history_index"):
            stored_count = sum(1 for m in stored if is_loggable(m))
            new_count = sum(1 for m in new if is_loggable(m))
            with self._lock:
                first = max(self._index_floor, stored_count + 1)
                self._index_floor = first + new_count
            return first
        return self._index_floor

    def _log(self, messages: Sequence[BaseMessage], first: int) -> None:
        if self._closed:
            return
        index = first
        for message in messages:
            with capture_internal_exceptions(self.client, "langchain_history_log"):
                if not is_loggable(message):
                    continue
                role = ROLE_USER if message_role(message) == "user" else ROLE_ASSISTANT
                index += 1
                self.client.create_message(self.session_id, index - 1, role, content_text(message.content))
