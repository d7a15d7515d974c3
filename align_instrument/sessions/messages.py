"""Canonical conversation items and the digests that thread calls into sessions.

An integration turns a provider request into a list of :class:`ChatItem` in conversation order
(system and developer messages left out: apps often put a timestamp in them, and they are not
part of what the user and the assistant said). Each item has a kind:

- ``user``: a user message's text (logged);
- ``assistant``: an assistant message's text (logged);
- ``tool_calls``: an assistant's tool calls, text = the call ids joined by ``","`` (threading only);
- ``tool``: a tool result, text = its call id (threading only).

Threading-only items let a tool-calling agent loop (user -> tool calls -> tool results -> answer)
stay one turn of one session, while only the user's message and the final answer are logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b
from typing import NamedTuple

USER = "user"
ASSISTANT = "assistant"
TOOL_CALLS = "tool_calls"
TOOL_RESULT = "tool"

LOGGED_KINDS = frozenset({USER, ASSISTANT})
"""Kinds that become Align messages (and take a message index)."""

ASSISTANT_KINDS = frozenset({ASSISTANT, TOOL_CALLS})
"""Kinds produced by the model: the outputs a request can continue from."""

HASH_BYTES = 16


class ChatItem(NamedTuple):
    """One canonical item of a conversation: ``kind`` (see the module doc) and ``text``."""

    kind: str
    text: str


def is_loggable(kind: str, text: str) -> bool:
    """Whether an item becomes an Align message: a user or assistant text that is not blank."""
    return kind in LOGGED_KINDS and bool(text) and not text.isspace()


def canonical_text(text: str) -> str:
    """The form of a text used for hashing: surrounding whitespace does not matter, because apps
    often ``strip()`` a reply before sending it back in the next request."""
    return text.strip()


def item_digest(kind: str, text: str) -> bytes:
    """The digest of one item (its kind and canonical text)."""
    return blake2b(
        f"{kind}\x00{canonical_text(text)}".encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES
    ).digest()


def key(*parts: bytes | str) -> bytes:
    """A store key from digests and labels (labels are short ASCII strings)."""
    h = blake2b(digest_size=HASH_BYTES)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
        h.update(b"\x1f")
    return h.digest()


def tool_call_key(call_ids: Iterable[str]) -> str:
    """The text of a ``tool_calls`` item: the call ids, which survive a round trip through the app
    unchanged (the arguments' JSON spacing may not)."""
    return ",".join(call_ids)
