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


_MAX_MEMO = 8192
# Keyed by the text's (cached) Python hash and length, not the text, so the memo keeps no message
# alive. Apps re-send each message on every later call; a 64-bit collision is not a practical concern.
_memo: dict[tuple[str, int, int], bytes] = {}


def item_digest(kind: str, text: str) -> bytes:
    """The digest of one item (its kind and canonical text), memoised."""
    memo_key = (kind, hash(text), len(text))
    found = _memo.get(memo_key)
    if found is None:
        found = blake2b(
            f"{kind}\x00{canonical_text(text)}".encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES
        ).digest()
        if len(_memo) >= _MAX_MEMO:
            _memo.clear()
        _memo[memo_key] = found
    return found


class Keyer:
    """Store keys in one namespace (a partition and user, or an explicit session): a digest of the
    namespace, a one-byte label and fixed-size item digests. The namespace is hashed once."""

    __slots__ = ("_prefix",)

    def __init__(self, namespace: str) -> None:
        self._prefix = blake2b(namespace.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES)

    def __call__(self, label: bytes, *digests: bytes) -> bytes:
        h = self._prefix.copy()
        h.update(label)
        for digest in digests:
            h.update(digest)
        return h.digest()


def tool_call_key(call_ids: Iterable[str]) -> str:
    """The text of a ``tool_calls`` item: the call ids, which survive a round trip through the app
    unchanged (the arguments' JSON spacing may not)."""
    return ",".join(call_ids)
