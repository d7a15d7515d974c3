"""Which session a request continues: the keys computed from a request before the provider call,
and from a reply after it. Pure hashing; the store looks the keys up atomically.

A request continues a session when its newest model output (assistant text, or tool-call ids)
is one that was captured: what comes after that output is the new turn; what comes before it
need not match anything (apps trim, summarise, wrap and edit their histories). Each captured
output is registered under three anchor keys, looked up strongest first:

1. the output after the previous model output of the conversation (two outputs in order);
2. the output after the user message that preceded it;
3. the output alone.

A key held by two sessions is ambiguous ("Hello! How can I help you today?" said to two anonymous
users): a stronger key may still tell them apart; if none does, the store opens a new session
rather than guess. Keys are namespaced by the implicit-threading partition (provider endpoint and
API key digest) and the user, or by the explicit session id, so they never cross those lines.

The work per request is bounded: only the newest :data:`MAX_ANCHORS` outputs, the few items
around them and the items after them are hashed, however long the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .messages import ASSISTANT_KINDS, LOGGED_KINDS, USER, ChatItem, Keyer, item_digest
from .store import Anchor, TurnPlan

MAX_ANCHORS = 2
"""How many of a request's newest outputs are tried: the newest, and the one before it when the
newest was never captured (an app may insert or edit an assistant message)."""

CONTEXT_REACH = 8
"""How far back from an output its preceding user message and previous output are looked for."""

# One-byte labels of the key kinds (digests have a fixed size, so label + digests is unambiguous).
AFTER_OUTPUT, AFTER_USER, OUTPUT, TURN, FIRST_TURN = b"P", b"U", b"O", b"T", b"F"


class Request(NamedTuple):
    """A planned request: the plan for the store, plus what the engine needs afterwards.

    Attributes:
        plan: for :meth:`SessionStore.begin_turn`.
        positions: the item position of each anchor of the plan (same order; the first is the
            request's newest output).
        keyer: the anchor namespace (for the reply's keys).
        last_user: digest of the request's last user message (b"" when none).
        last_output: digest of the request's newest output (b"" when none).
    """

    plan: TurnPlan
    positions: tuple[int, ...]
    keyer: Keyer
    last_user: bytes
    last_output: bytes


def plan_request(
    items: Sequence[ChatItem],
    *,
    keyer: Keyer,
    turn_keyer: Keyer,
    session_id: str | None,
    response_key: str | None,
    new_session_id: str,
    user_id: str,
    regenerate_first: bool,
) -> Request:
    """Compute the :class:`TurnPlan` of a request.

    Args:
        items: the request's conversation (see :mod:`.messages`).
        keyer: anchor namespace: the partition and user, or the explicit session.
        turn_keyer: turn-key namespace (the previous response id in delta mode, else ``keyer``'s).
        session_id, response_key, new_session_id, user_id, regenerate_first: see :class:`TurnPlan`.
    """
    count = len(items)
    # One backward scan: the newest outputs (newest first), the last user message, and how many
    # loggable messages follow each output (a cheap check per item; only a few items are hashed).
    outputs: list[int] = []
    after: list[int] = []
    last_user = -1
    loggable = 0
    for i in range(count - 1, -1, -1):
        kind, text = items[i]
        if kind in ASSISTANT_KINDS:
            if len(outputs) <= MAX_ANCHORS:
                outputs.append(i)
                after.append(loggable)
        elif kind == USER and last_user < 0:
            last_user = i
        if kind in LOGGED_KINDS and text and not text.isspace():  # is_loggable(), inlined: every item
            loggable += 1
    newest = outputs[0] if outputs else -1
    tried = outputs[:MAX_ANCHORS]

    # Digests of the items from the oldest tried output's context to the end (memoised per text);
    # an item further back (a user message far before its output) is digested when asked for.
    low = max(0, tried[-1] - 1) if tried else 0
    tail = [item_digest(kind, text) for kind, text in items[low:]]

    def digest(i: int) -> bytes:
        return tail[i - low] if i >= low else item_digest(*items[i])

    anchors: list[Anchor] = []
    for n, position in enumerate(tried):
        user = _find(items, position, (USER,))
        previous = -1
        if n == 0:  # the newest output: with the previous one too (older ones are a fallback)
            previous = outputs[1] if len(outputs) > 1 else _find(items, position, ASSISTANT_KINDS)
            if previous >= 0 and position - previous > CONTEXT_REACH:
                previous = -1
        keys = output_keys(
            keyer,
            tail[position - low],
            digest(user) if user >= 0 else b"",
            digest(previous) if previous >= 0 else b"",
        )
        anchors.append(Anchor(keys, turn_keyer(TURN, *tail[position - low :]), after[n]))
    plan = TurnPlan(
        anchors=tuple(anchors),
        opening_key=anchors[0].turn_key if anchors else turn_keyer(FIRST_TURN, *tail),
        opening_count=after[0] if outputs else loggable,
        history_count=loggable,
        session_id=session_id,
        response_key=response_key,
        new_session_id=new_session_id,
        user_id=user_id,
        regenerate_first=regenerate_first,
    )
    return Request(
        plan,
        tuple(tried),
        keyer,
        digest(last_user) if last_user >= 0 else b"",
        tail[newest - low] if newest >= 0 else b"",
    )


def output_keys(keyer: Keyer, output: bytes, user_before: bytes, output_before: bytes) -> tuple[bytes, ...]:
    """The anchor keys of one output, strongest first (the context ones only when known)."""
    if output_before and user_before:
        return (
            keyer(AFTER_OUTPUT, output_before, output),
            keyer(AFTER_USER, user_before, output),
            keyer(OUTPUT, output),
        )
    if user_before:
        return keyer(AFTER_USER, user_before, output), keyer(OUTPUT, output)
    if output_before:
        return keyer(AFTER_OUTPUT, output_before, output), keyer(OUTPUT, output)
    return (keyer(OUTPUT, output),)


def reply_keys(
    request: Request, outputs: Sequence[ChatItem], alternatives: Sequence[ChatItem] = ()
) -> tuple[bytes, ...]:
    """The anchor keys to register for a reply: each of its outputs in order (text, then tool
    calls), each after the previous one, and each other choice as an output of the same request."""
    out: list[bytes] = []
    keyer = request.keyer
    previous = request.last_output
    for kind, text in outputs:
        digest = item_digest(kind, text)
        out.extend(output_keys(keyer, digest, request.last_user, previous))
        previous = digest
    for kind, text in alternatives:
        out.extend(output_keys(keyer, item_digest(kind, text), request.last_user, request.last_output))
    return tuple(out)


def _find(items: Sequence[ChatItem], before: int, kinds: Sequence[str] | frozenset[str]) -> int:
    """The position of the nearest item of ``kinds`` before ``before`` (within reach), or -1."""
    for i in range(before - 1, max(before - CONTEXT_REACH, 0) - 1, -1):
        if items[i].kind in kinds:
            return i
    return -1
