"""``AlignChatMemory``: any LlamaIndex memory, logged to Align as one session."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory.types import BaseMemory
from pydantic import ConfigDict, PrivateAttr

from ..._internal import capture_internal_exceptions
from ...events import DEFAULT_ASSISTANT_ID, ROLE_ASSISTANT, ROLE_USER, check_id
from .._user import IdentifiesUser
from ._convert import message_text


def _role_of(message: Any) -> str | None:
    """``user`` / ``assistant`` for a message that is logged (it has text), else None."""
    role = getattr(message.role, "value", message.role)
    if role not in (ROLE_USER, ROLE_ASSISTANT):
        return None
    return str(role) if message_text(message) else None


class AlignChatMemory(IdentifiesUser, BaseMemory):
    """Wraps a LlamaIndex memory so that its conversation is logged to Align as one session.

    Behaves like the official ``alignai`` SDK's LlamaIndex ``ChatMemory``: on creation it opens the
    session (and identifies the user when ``user_info`` has any detail); every user message, and
    every assistant message with text, put into the memory is logged with the next message index;
    :meth:`close` closes the session. Messages are stored in, and read from, ``memory``.

    Unlike the official one, the index is counted once (from the messages ``memory`` already holds
    when it is wrapped, so a persisted conversation keeps its numbering) and then kept, instead of
    re-reading the whole history on every ``put``; and logging only enqueues (the client's worker
    thread delivers), so a ``put`` never waits on the network. Logging never breaks the memory: an
    error while logging is caught and counted in ``client.stats()["internal_errors"]``; the
    wrapped memory's own errors reach the caller unchanged. Under ``autoinstrument()``, LLM calls
    of a chat engine or agent that uses this memory are left to it (not logged twice).

    Args:
        memory: any LlamaIndex ``BaseMemory`` (``ChatMemoryBuffer``, ``Memory``, ...).
        client: the :class:`~align_instrument.AlignClient` (or ``AlignAI``) that sends the events.
        session_id: the Align session id, at most 64 characters.
        user_id: the user the session belongs to, at most 64 characters.
        assistant_id: which assistant answers (default ``"DEFAULT"``).
        user_info: optional ``display_name``, ``email``, ``ip``, ``country_code``, ``create_time``,
            ``custom_properties`` sent with ``identify_user``.

    Raises:
        ValidationError: an id or a ``user_info`` field breaks its Align rule (nothing is sent).

    Example:
        >>> memory = AlignChatMemory(ChatMemoryBuffer.from_defaults(), client, "s-1", "u-1")
        >>> engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
        >>> engine.chat("Hi!")  # the user message and the reply are logged as 1 and 2
        >>> memory.close()
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    __align_chat_memory__: ClassVar[bool] = True

    memory: BaseMemory
    client: Any
    session_id: str
    user_id: str
    assistant_id: str = DEFAULT_ASSISTANT_ID

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _next_index: int = PrivateAttr(default=1)
    _closed: bool = PrivateAttr(default=False)

    def __init__(
        self,
        memory: BaseMemory,
        client: Any,
        session_id: str,
        user_id: str,
        assistant_id: str | None = None,
        user_info: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]  # pydantic fields of this class
            memory=memory,
            client=client,
            session_id=check_id("session_id", session_id),
            user_id=check_id("user_id", user_id),
            assistant_id=DEFAULT_ASSISTANT_ID if assistant_id is None else assistant_id,
        )
        self._next_index = 1 + sum(1 for m in memory.get_all() if _role_of(m) is not None)
        client.open_session(self.session_id, self.user_id, self.assistant_id)
        if user_info and any(value is not None for value in user_info.values()):
            self.identify_user(**dict(user_info))

    def __getattr__(self, name: str) -> Any:
        # Attributes of the wrapped memory (a ChatMemoryBuffer's token_limit, chat_store, ...).
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if name.startswith("_"):
                raise
            return getattr(self.__dict__["memory"], name)

    @classmethod
    def class_name(cls) -> str:
        return "AlignChatMemory"

    @classmethod
    def from_defaults(cls, **kwargs: Any) -> AlignChatMemory:
        """Not supported, as in the official SDK: wrap a memory with the constructor."""
        raise NotImplementedError(
            "wrap a memory instead: AlignChatMemory(memory, client, session_id, user_id)"
        )

    # --- BaseMemory --------------------------------------------------------------------------------------

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The wrapped memory's ``get``."""
        return self.memory.get(input=input, **kwargs)

    async def aget(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The wrapped memory's ``aget``."""
        return await self.memory.aget(input=input, **kwargs)

    def get_all(self) -> list[ChatMessage]:
        """The wrapped memory's ``get_all``."""
        return self.memory.get_all()

    async def aget_all(self) -> list[ChatMessage]:
        """The wrapped memory's ``aget_all``."""
        return await self.memory.aget_all()

    def put(self, message: ChatMessage) -> None:
        """Store ``message``, then log it when it is a user message or an assistant message with text."""
        self.memory.put(message)
        self._log([message])

    async def aput(self, message: ChatMessage) -> None:
        """Async :meth:`put`."""
        await self.memory.aput(message)
        self._log([message])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Store ``messages`` (one call to the wrapped memory), then log them in order."""
        self.memory.put_messages(messages)
        self._log(messages)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`put_messages`."""
        await self.memory.aput_messages(messages)
        self._log(messages)

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the stored history (not logged, as in the official SDK; numbering continues)."""
        self.memory.set(messages)

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`set`."""
        await self.memory.aset(messages)

    def reset(self) -> None:
        """Clear the stored history. The Align session stays open and its numbering continues."""
        self.memory.reset()

    async def areset(self) -> None:
        """Async :meth:`reset`."""
        await self.memory.areset()

    # --- Align ------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the Align session. Messages put later are stored but not logged; a second call does nothing.

        Example:
            >>> memory.close()
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with capture_internal_exceptions(self.client, "llamaindex_memory_close"):
            self.client.close_session(self.session_id)

    def _log(self, messages: Sequence[ChatMessage]) -> None:
        with capture_internal_exceptions(self.client, "llamaindex_memory_log"):
            logged = [(role, m) for m in messages if (role := _role_of(m)) is not None]
            if not logged or self._closed:
                return
            with self._lock:  # reserve the indexes, so concurrent puts never share one
                first = self._next_index
                self._next_index += len(logged)
            for offset, (role, message) in enumerate(logged):
                self.client.create_message(self.session_id, first + offset, role, message_text(message))
