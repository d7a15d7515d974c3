"""The session engine: turns captured LLM calls into Align sessions and indexed messages.

Integrations (OpenAI, LangChain, ...) call it around each model call::

    turn = engine.begin_turn(partition=key, messages=items, user_id=request_user)
    try:
        reply = call_the_model()
    except BaseException:
        engine.fail_turn(turn)          # the user message is already logged
        raise
    engine.end_turn(turn, reply_text, properties={"model": ..., "output_tokens": ...}, response_id=reply.id)

Session resolution, in order: an ``align.session(...)`` scope; an explicit session id from the
integration (Responses ``conversation``, LangChain run metadata); a ``previous_response_id`` of a
captured response; implicit threading on the request's newest captured model output (see
:mod:`.resolution`); otherwise a new session.

Each reply is logged as soon as it is complete. The same request again is the same turn: after a
failed call it is a retry (the user message is not logged twice); after a complete or cut-short
reply it is a regeneration, logged at the next index with the custom property ``regenerates``
naming the index it regenerates, and the conversation goes on from whichever variant the app's
next request carries. A conversation resumed after its session was closed for inactivity opens a
new session (custom property ``continues_session``) that logs only the new turn.

The engine holds no lock around store calls: each :class:`SessionStore` operation is atomic, so
threads, tasks and processes (with a shared store) never take the same index.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import events as ev
from .._internal import capture_internal_exceptions, logger, report_internal_error
from ..client import AlignClient
from .context import LAST_SESSION_ID, current_scope, safe_id
from .lifecycle import SessionCloser
from .memory_store import InMemorySessionStore
from .messages import ASSISTANT, TOOL_CALLS, ChatItem, Keyer, is_loggable, tool_call_key
from .resolution import Request, plan_request, reply_keys
from .store import DONE, INCOMPLETE, MessageRef, ResponsePoint, SessionStore, TurnClaim, TurnOutcome

RedactHook = Callable[[str, str], str]

DEFAULT_ASSISTANT_PROPERTIES: tuple[str, ...] = (
    "model",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "finish_reason",
    "incomplete",
    "regenerates",
)
"""Custom properties put on assistant messages by default (Align allows at most 10 per event)."""

CONTINUES_PROPERTY = "continues_session"
"""Session custom property naming the closed session a resumed conversation continues."""

_AMBIGUITY_HINT = (
    "align_instrument: a conversation's newest reply was also given in another conversation "
    "(e.g. two anonymous users greeted alike), so it was started as a new session rather than "
    "guessed. Pass the request's `user=` or wrap the calls in `align.session(conversation_id)` "
    "to keep such conversations whole. (Logged once; counted in stats()['sessions']['ambiguous'].)"
)


@dataclass(eq=False)
class Turn:
    """One model call being captured. Created by :meth:`SessionEngine.begin_turn`; pass it to
    exactly one of :meth:`SessionEngine.end_turn` / :meth:`SessionEngine.fail_turn` (later calls
    are ignored).

    Attributes:
        session_id: the resolved Align session.
        user_id: the session's user.
        regenerates: the reply index this turn regenerates (0 when it is not a regeneration).
    """

    session_id: str
    user_id: str
    regenerates: int
    request: Request
    turn_key: bytes
    store: SessionStore
    started: float = field(default_factory=time.perf_counter)
    done: bool = False
    ref: MessageRef | None = None

    @property
    def elapsed_ms(self) -> int:
        """Milliseconds since the turn began."""
        return int((time.perf_counter() - self.started) * 1000)


_engines: weakref.WeakSet[SessionEngine] = weakref.WeakSet()


_session_prefix = os.urandom(8).hex()


def _reset_in_child() -> None:
    global _session_prefix
    _session_prefix = os.urandom(8).hex()  # the child's session ids must not repeat its parent's
    for engine in list(_engines):
        engine._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


class SessionEngine:
    """Resolves sessions, assigns message indexes, logs through an :class:`AlignClient`, and
    closes idle sessions. Thread-safe and fork-safe; one per process is enough for every integration.

    Args:
        client: where events go.
        store: session state (default :class:`InMemorySessionStore` sized by ``session_timeout``;
            a shared store such as ``RedisSessionStore`` for apps served by several processes).
        session_timeout: seconds of inactivity after which ``close_session`` is sent.
        default_user_id: user of sessions whose call names none.
        redact: ``(text, role) -> text`` applied to every message before it is enqueued; if it
            raises, that message is not sent (never unredacted) and the error is counted.
        assistant_properties: which custom property names assistant messages keep (at most 10).
        tick_interval: seconds between the idle-session passes (default: derived from the timeout).

    Raises:
        ValueError: ``session_timeout`` is not positive or more than 10 assistant properties are asked for.

    Example:
        >>> engine = SessionEngine(AlignClient(host="http://127.0.0.1:8787"), session_timeout=600)
        >>> turn = engine.begin_turn(partition="p", messages=[ChatItem("user", "Hi")])
        >>> engine.end_turn(turn, "Hello! How can I help?")
        MessageRef(session_id='...', message_index=2)
    """

    def __init__(
        self,
        client: AlignClient,
        *,
        store: SessionStore | None = None,
        session_timeout: float = 1800.0,
        default_user_id: str = "anonymous",
        redact: RedactHook | None = None,
        assistant_properties: Collection[str] = DEFAULT_ASSISTANT_PROPERTIES,
        tick_interval: float | None = None,
    ) -> None:
        if session_timeout <= 0:
            raise ValueError("session_timeout must be > 0")
        if len(assistant_properties) > ev.MAX_CUSTOM_PROPERTIES:
            raise ValueError(f"at most {ev.MAX_CUSTOM_PROPERTIES} assistant_properties")
        self.client = client
        self.session_timeout = float(session_timeout)
        # Used alone, or when a shared store fails (its sessions may then split; counted).
        self.local_store = InMemorySessionStore(session_timeout)
        self.store: SessionStore = store if store is not None else self.local_store
        self.default_user_id = ev.check_id("default_user_id", default_user_id)
        self.redact = redact
        self.assistant_properties = frozenset(assistant_properties)
        self.counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._keyers: dict[str, Keyer] = {}  # namespaces seen recently (hashing one costs ~1 us)
        self._session_seq = 0
        self._warned_ambiguous = False
        if tick_interval is None:
            tick_interval = min(1.0, self.session_timeout / 4)
        stores = (self.store,) if self.store is self.local_store else (self.store, self.local_store)
        self.lifecycle = SessionCloser(
            client, stores, self.session_timeout, tick_interval, lambda: self._count("sessions_closed")
        )
        _engines.add(self)

    # --- the integration-facing API ---------------------------------------------------------------------

    def begin_turn(
        self,
        *,
        partition: str,
        messages: Sequence[ChatItem],
        user_id: str | None = None,
        session_id: str | None = None,
        previous_response_id: str | None = None,
        delta: bool = False,
        assistant_id: str | None = None,
        custom_properties: Mapping[str, str] | None = None,
    ) -> Turn:
        """Resolve the session of a model call and log the messages it adds to the conversation
        (the user's turn). Call it just before the provider call.

        Args:
            partition: isolates implicit threading (e.g. a hash of the provider API key and base URL).
            messages: the request's conversation as canonical items, in order, system/developer
                messages left out (see :mod:`~align_instrument.sessions.messages`).
            user_id: the request's end-user id (``user`` / ``safety_identifier`` / run metadata);
                a scope's user wins over it; default ``default_user_id``.
            session_id: an explicit session id known to the integration (Responses ``conversation``,
                LangChain metadata); a scope's wins over it. Ids over 64 characters become a
                stable digest (``h_...``, see :func:`~align_instrument.sessions.context.safe_id`).
            previous_response_id: continue the session of that captured response (Responses API).
            delta: ``messages`` hold only the items new since the previous turn (Responses with
                ``conversation`` or ``previous_response_id``), not the whole history.
            assistant_id, custom_properties: for ``open_session`` if this opens the session.

        Returns:
            The :class:`Turn` to end with :meth:`end_turn` or :meth:`fail_turn`.

        Raises:
            Nothing of the provider's; our own errors propagate to the caller, which must contain
            them (``capture_internal_exceptions``) and go on without capturing.

        Example:
            >>> turn = engine.begin_turn(partition="api-key-hash", messages=[ChatItem("user", "Hi")])
            >>> turn.session_id
            '6c1f...'
        """
        scope = current_scope()
        if scope is not None:
            session_id = scope.session_id
            user_id = scope.user_id or user_id
            assistant_id = scope.assistant_id or assistant_id
            custom_properties = scope.custom_properties or custom_properties
        user = safe_id(user_id) if user_id else self.default_user_id
        self.lifecycle.ensure_started()
        sid = safe_id(session_id) if session_id else None
        if sid is not None:
            keyer = turn_keyer = self._keyer("s\x1f" + sid)
        else:
            keyer = self._keyer(f"i\x1f{partition}\x1f{user}")
            turn_keyer = self._keyer("p\x1f" + previous_response_id) if previous_response_id else keyer
        request = plan_request(
            messages,
            keyer=keyer,
            turn_keyer=turn_keyer,
            session_id=sid,
            response_key=previous_response_id,
            new_session_id=self._new_session_id(),
            user_id=user,
            # The same input again after the same previous response is a regeneration; in a
            # `conversation` (delta) a repeated input may be a new turn ("yes" twice).
            regenerate_first=previous_response_id is not None or (bool(user_id) and not delta),
        )
        store, claim = self._call_store(self.store, "begin_turn", request.plan)
        plan = request.plan
        turn_key = plan.anchors[claim.anchor].turn_key if claim.anchor >= 0 else plan.opening_key
        turn = Turn(claim.session_id, claim.user_id or user, claim.regenerates, request, turn_key, store)
        LAST_SESSION_ID.set(turn.session_id)
        self._log_claim(claim, request, messages, assistant_id, custom_properties)
        return turn

    def end_turn(
        self,
        turn: Turn,
        reply_text: str | None,
        *,
        tool_call_ids: Sequence[str] = (),
        properties: Mapping[str, object] | None = None,
        response_id: str | None = None,
        incomplete: bool = False,
        alternatives: Sequence[str] = (),
    ) -> MessageRef | None:
        """Record and log the model's reply to a turn.

        The reply takes the session's next index; ``latency_ms`` is added unless given. A reply
        with no text (only tool calls) is not logged but still threads the conversation.

        Args:
            turn: from :meth:`begin_turn`.
            reply_text: the assistant text (None or empty when there is none).
            tool_call_ids: ids of the tool calls in the reply, in order.
            properties: custom properties for the assistant message (filtered to the configured
                names; values converted to strings and truncated to 256 characters).
            response_id: provider response id to map to the logged message (for ``message_ref``,
                feedback and ``previous_response_id`` chains).
            incomplete: the reply was cut short (stream abandoned or failed); marked in the properties.
            alternatives: texts of the response's other choices (``n > 1``): not logged, but a
                request that continues with one of them still threads into this session.

        Returns:
            Where the reply is logged, or None when it has no text or the turn was already ended.

        Example:
            >>> engine.end_turn(turn, "Hello!", properties={"model": "gpt-4o-mini"}, response_id="chatcmpl-1")
            MessageRef(session_id='6c1f...', message_index=2)
        """
        if turn.done:
            return turn.ref
        turn.done = True
        text = reply_text.strip() if reply_text else ""
        outputs: list[ChatItem] = []
        if text:
            outputs.append(ChatItem(ASSISTANT, text))
        if tool_call_ids:
            outputs.append(ChatItem(TOOL_CALLS, tool_call_key(tool_call_ids)))
        others = [ChatItem(ASSISTANT, a) for a in alternatives if a and not a.isspace()]
        outcome = TurnOutcome(
            turn.session_id,
            turn.turn_key,
            bool(text),
            INCOMPLETE if incomplete else DONE,
            reply_keys(turn.request, outputs, others),
            response_id,
        )
        _, index = self._call_store(turn.store, "end_turn", outcome)
        if not index:
            return None
        props = self._assistant_properties(turn, properties, incomplete)
        self._log(turn.session_id, index, ASSISTANT, reply_text or "", props)
        if turn.regenerates:
            self._count("regenerated")
        turn.ref = MessageRef(turn.session_id, index)
        return turn.ref

    def fail_turn(self, turn: Turn) -> None:
        """The provider call failed: nothing more is logged (the user message already was, and a
        retry of the same request will not log it again).

        Example:
            >>> engine.fail_turn(turn)
        """
        if turn.done:
            return
        turn.done = True
        with capture_internal_exceptions(self.client, "session_store"):
            turn.store.fail_turn(turn.session_id, turn.turn_key, time.time())

    def register_ref(self, key: str, ref: MessageRef) -> None:
        """Map another key (e.g. a LangChain run id, as ``str(run_id)``) to a logged message, so
        that ``message_ref(key)`` and ``feedback(key, ...)`` find it (bounded, expires with the session).

        Example:
            >>> engine.register_ref(str(run_id), ref)
        """
        with capture_internal_exceptions(self.client, "session_store"):
            self.store.put_response(key, ResponsePoint(ref.session_id, ref.message_index))

    def message_ref(self, key: str) -> MessageRef | None:
        """The message logged for a response id / registered key, or None (unknown, expired, or the
        response had no text).

        Example:
            >>> engine.message_ref("chatcmpl-1")
            MessageRef(session_id='6c1f...', message_index=2)
        """
        point: ResponsePoint | None = None
        with capture_internal_exceptions(self.client, "session_store"):
            point = self.store.get_response(key)
        if point is None and self.store is not self.local_store:
            point = self.local_store.get_response(key)
        if point is None or point.message_index is None:
            return None
        return MessageRef(point.session_id, point.message_index)

    def send_feedback(self, ref: MessageRef, feedback_type: str, *, key: str | None = None) -> None:
        """Send ``create_message_feedback`` for a captured message.

        Raises:
            ValidationError: ``feedback_type`` is not ``"thumbs_up"`` / ``"thumbs_down"``.
        """
        ev.check_feedback_type(feedback_type)
        self.client.create_message_feedback(ref.session_id, ref.message_index, feedback_type)

    def close(self, *, close_sessions: bool = True) -> None:
        """Stop the scheduler and, when ``close_sessions``, close every session this process tracks
        (a shared store's sessions stay open for the other processes; they close on inactivity)."""
        self.lifecycle.close(close_sessions=close_sessions)

    def stats(self) -> dict[str, int]:
        """Counters: ``sessions_opened``, ``sessions_closed``, ``regenerated``, ``resumed``,
        ``ambiguous`` (new sessions opened rather than guessed), ``store_fallback`` (calls served
        by the in-process store while the shared store failed)."""
        with self._lock:
            return dict(self.counters)

    # --- internals --------------------------------------------------------------------------------------

    def _keyer(self, namespace: str) -> Keyer:
        keyer = self._keyers.get(namespace)
        if keyer is None:
            if len(self._keyers) >= 4096:
                self._keyers.clear()
            keyer = self._keyers[namespace] = Keyer(namespace)
        return keyer

    def _new_session_id(self) -> str:
        # A random per-process prefix and a counter: unique across a fleet, without a syscall per call.
        self._session_seq += 1
        return f"{_session_prefix}{self._session_seq:016x}"

    def _log_claim(
        self,
        claim: TurnClaim,
        request: Request,
        items: Sequence[ChatItem],
        assistant_id: str | None,
        custom_properties: Mapping[str, str] | None,
    ) -> None:
        if claim.evicted:
            self.lifecycle.close_sessions(claim.evicted)
        sid = claim.session_id
        if claim.ambiguous:
            self._count("ambiguous")
            if not self._warned_ambiguous:
                self._warned_ambiguous = True
                logger.warning(_AMBIGUITY_HINT)
        if claim.opened:
            properties = dict(custom_properties or {})
            if claim.continues:
                self._count("resumed")
                if len(properties) < ev.MAX_CUSTOM_PROPERTIES:
                    properties[CONTINUES_PROPERTY] = claim.continues
            try:
                self.client.open_session(sid, claim.user_id, assistant_id, properties or None)
                self._count("sessions_opened")
            except Exception:
                report_internal_error(self.client, "open_session")
        if claim.log == "none":
            return
        if claim.log == "history":
            start = 0
        elif claim.anchor >= 0:
            start = request.positions[claim.anchor] + 1
        else:
            start = request.positions[0] + 1 if request.positions else 0  # after the newest output
        index = claim.first_index
        for i in range(start, len(items)):
            kind, text = items[i]
            if is_loggable(kind, text):
                self._log(sid, index, kind, text, None)
                index += 1

    def _log(self, session_id: str, index: int, role: str, text: str, props: dict[str, str] | None) -> None:
        try:
            content = self.redact(text, role) if self.redact is not None else text
            self.client.create_message(session_id, index, role, content, props)
        except Exception:
            report_internal_error(self.client, "log_message")

    def _call_store(self, store: SessionStore, operation: str, argument: object) -> tuple[SessionStore, Any]:
        """``store.<operation>(argument, now)``; when a shared store fails, the in-process store
        serves that call (its session may split while the shared one is away: counted)."""
        try:
            return store, getattr(store, operation)(argument, time.time())
        except Exception:
            if store is self.local_store:
                raise
            self._count("store_fallback")
            report_internal_error(self.client, f"session_store_{operation}")
            return self.local_store, getattr(self.local_store, operation)(argument, time.time())

    def _assistant_properties(
        self, turn: Turn, properties: Mapping[str, object] | None, incomplete: bool
    ) -> dict[str, str] | None:
        wanted = self.assistant_properties
        out: dict[str, str] = {}
        if properties:
            for name, value in properties.items():
                if name in wanted and value is not None:
                    out[name] = str(value)[: ev.MAX_CUSTOM_VALUE_CHARS]
        if "latency_ms" in wanted and "latency_ms" not in out:
            out["latency_ms"] = str(turn.elapsed_ms)
        if incomplete and "incomplete" in wanted:
            out["incomplete"] = "true"
        if turn.regenerates and "regenerates" in wanted:
            out["regenerates"] = str(turn.regenerates)
        return out or None

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + 1


__all__ = [
    "CONTINUES_PROPERTY",
    "DEFAULT_ASSISTANT_PROPERTIES",
    "ChatItem",
    "MessageRef",
    "SessionEngine",
    "Turn",
]
