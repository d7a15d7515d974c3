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

from .messages import ASSISTANT_KINDS, USER, ChatItem, is_loggable, item_digest, key
from .store import Anchor, TurnPlan

MAX_ANCHORS = 4
"""How many of a request's newest outputs are tried (an app may insert or edit a few)."""

CONTEXT_REACH = 8
"""How far back from an output its preceding user message and previous output are looked for."""


class Request(NamedTuple):
    """A planned request: the plan for the store, plus what the engine needs afterwards.

    Attributes:
        plan: for :meth:`SessionStore.begin_turn`.
        positions: the item position of each anchor of the plan (same order).
        newest_output: the position of the request's newest output, or -1.
        namespace: the anchor namespace (for the reply's keys).
        last_user: digest of the request's last user message (b"" when none).
        last_output: digest of the request's newest output (b"" when none).
    """

    plan: TurnPlan
    positions: tuple[int, ...]
    newest_output: int
    namespace: str
    last_user: bytes
    last_output: bytes


def plan_request(
    items: Sequence[ChatItem],
    *,
    namespace: str,
    turn_namespace: str,
    session_id: str | None,
    response_key: str | None,
    new_session_id: str,
    user_id: str,
    regenerate_first: bool,
) -> Request:
    """Compute the :class:`TurnPlan` of a request.

    Args:
        items: the request's conversation (see :mod:`.messages`).
        namespace: anchor namespace: the partition and user, or the explicit session.
        turn_namespace: turn-key namespace (also the previous response id in delta mode).
        session_id, response_key, new_session_id, user_id, regenerate_first: see :class:`TurnPlan`.
    """
    count = len(items)
    digests: dict[int, bytes] = {}

    def digest(i: int) -> bytes:
        found = digests.get(i)
        if found is None:
            kind, text = items[i]
            found = digests[i] = item_digest(kind, text)
        return found

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
        if is_loggable(kind, text):
            loggable += 1
    history_count = loggable
    newest = outputs[0] if outputs else -1

    def turn_key(position: int) -> bytes:
        head = digest(position) if position >= 0 else b""
        return key(turn_namespace, "turn", head, *(digest(i) for i in range(position + 1, count)))

    anchors: list[Anchor] = []
    for n, position in enumerate(outputs[:MAX_ANCHORS]):
        previous = outputs[n + 1] if n + 1 < len(outputs) else _find(items, position, ASSISTANT_KINDS)
        user = _find(items, position, (USER,))
        anchors.append(
            Anchor(
                output_keys(
                    namespace,
                    digest(position),
                    digest(user) if user >= 0 else b"",
                    digest(previous) if previous >= 0 and position - previous <= CONTEXT_REACH else b"",
                ),
                turn_key(position),
                after[n],
            )
        )
    opening_count = after[0] if outputs else history_count
    plan = TurnPlan(
        anchors=tuple(anchors),
        opening_key=anchors[0].turn_key if anchors else turn_key(-1),
        opening_count=opening_count,
        history_count=history_count,
        session_id=session_id,
        response_key=response_key,
        new_session_id=new_session_id,
        user_id=user_id,
        regenerate_first=regenerate_first,
    )
    return Request(
        plan,
        tuple(outputs[:MAX_ANCHORS]),
        newest,
        namespace,
        digest(last_user) if last_user >= 0 else b"",
        digest(newest) if newest >= 0 else b"",
    )


def output_keys(namespace: str, output: bytes, user_before: bytes, output_before: bytes) -> tuple[bytes, ...]:
    """The anchor keys of one output, strongest first (the context ones only when known)."""
    keys: list[bytes] = []
    if output_before:
        keys.append(key(namespace, "after-output", output_before, output))
    if user_before:
        keys.append(key(namespace, "after-user", user_before, output))
    keys.append(key(namespace, "output", output))
    return tuple(keys)


def reply_keys(
    request: Request, outputs: Sequence[ChatItem], alternatives: Sequence[ChatItem] = ()
) -> tuple[bytes, ...]:
    """The anchor keys to register for a reply: each of its outputs in order (text, then tool
    calls), each after the previous one, and each other choice as an output of the same request."""
    out: list[bytes] = []
    previous = request.last_output
    for kind, text in outputs:
        digest = item_digest(kind, text)
        out.extend(output_keys(request.namespace, digest, request.last_user, previous))
        previous = digest
    for kind, text in alternatives:
        out.extend(
            output_keys(request.namespace, item_digest(kind, text), request.last_user, request.last_output)
        )
    return tuple(out)


def _find(items: Sequence[ChatItem], before: int, kinds: Sequence[str] | frozenset[str]) -> int:
    """The position of the nearest item of ``kinds`` before ``before`` (within reach), or -1."""
    for i in range(before - 1, max(before - CONTEXT_REACH, 0) - 1, -1):
        if items[i].kind in kinds:
            return i
    return -1
