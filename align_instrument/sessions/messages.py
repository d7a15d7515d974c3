"""Canonical conversation items and the chained hash that threads calls into sessions.

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

from collections.abc import Iterable, Sequence
from hashlib import blake2b
from typing import NamedTuple

USER = "user"
ASSISTANT = "assistant"
TOOL_CALLS = "tool_calls"
TOOL_RESULT = "tool"

LOGGED_KINDS = frozenset({USER, ASSISTANT})
"""Kinds that become Align messages (and take a message index)."""

ASSISTANT_KINDS = frozenset({ASSISTANT, TOOL_CALLS})
"""Kinds produced by the model: a known prefix ending in one of these was answered by a call we saw."""

HASH_BYTES = 16


class ChatItem(NamedTuple):
    """One canonical item of a conversation: ``kind`` (see the module doc) and ``text``."""

    kind: str
    text: str


def canonical_text(text: str) -> str:
    """The form of a text used for hashing: surrounding whitespace does not matter, because apps
    often ``strip()`` a reply before sending it back in the next request."""
    return text.strip()


def root_hash(*parts: str) -> bytes:
    """The start of a hash chain, namespaced by ``parts`` (e.g. mode, partition, user)."""
    return blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).digest()


def chain_hash(previous: bytes, kind: str, text: str) -> bytes:
    """The hash of a conversation prefix extended by one item."""
    h = blake2b(previous, digest_size=HASH_BYTES)
    h.update(f"{kind}\x00{canonical_text(text)}".encode("utf-8", "surrogatepass"))
    return h.digest()


_MAX_CACHED = 8192
# Keyed by the text's (cached) Python hash and length, not the text: the memo must not keep the
# app's messages alive. A 64-bit collision at the same prefix is not a practical concern.
_cache: dict[tuple[bytes, str, int, int], bytes] = {}


def chain_hashes(root: bytes, items: Sequence[ChatItem]) -> list[bytes]:
    """``[h1, ..., hn]``: ``h_i`` is the hash of ``items[:i]`` chained from ``root``.

    Apps re-send their whole history on every call, so each step is memoised: a dict look-up (the
    strings' hashes are cached by Python) instead of a blake2b digest per message per call. The
    memo is bounded (cleared when full) and holds no reference to the texts.
    """
    out: list[bytes] = []
    append = out.append
    cache = _cache
    h = root
    for kind, text in items:
        key = (h, kind, hash(text), len(text))
        found = cache.get(key)
        if found is None:
            digest = blake2b(h, digest_size=HASH_BYTES)
            digest.update(f"{kind}\x00{text.strip()}".encode("utf-8", "surrogatepass"))
            found = digest.digest()
            if len(cache) >= _MAX_CACHED:
                cache.clear()
            cache[key] = found
        h = found
        append(h)
    return out


def tool_call_key(call_ids: Iterable[str]) -> str:
    """The text of a ``tool_calls`` item: the call ids, which survive a round trip through the app
    unchanged (the arguments' JSON spacing may not)."""
    return ",".join(call_ids)
