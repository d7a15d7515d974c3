"""The session engine: turns captured LLM calls into Align sessions and indexed messages.

Integrations (OpenAI, LangChain) call it around each model call::

    turn = engine.begin_turn(partition=key, messages=items, user_id=request_user)
    try:
        reply = call_the_model()
    except BaseException:
        engine.fail_turn(turn)          # the user message is already logged
        raise
    engine.end_turn(turn, reply_text, properties={"model": ..., "output_tokens": ...}, response_id=reply.id)

Session resolution, in order: an ``align.session(...)`` scope; an explicit session id from the
integration (Responses ``conversation``, LangChain run metadata); a ``previous_response_id`` chain;
implicit threading by a chained hash over the canonical conversation, partitioned by ``partition``
(API key hash / base URL) and user, so two users' conversations that merely start alike never merge.

Message indexes are positions among the conversation's logged user and assistant messages (1-based),
so a re-sent history, a retried call or a failed call never logs an index twice.

Regenerations: an assistant reply is held *pending* (its index reserved, its ref usable at once)
and logged when the first of these happens:

1. the next request of the session continues the conversation: the reply it carries is logged
   (if the turn was regenerated, the variant the app actually went on with);
2. ``settle_seconds`` pass without the turn being regenerated (default 10 s; 0 logs at once);
3. feedback is sent for it, the session closes, or :meth:`SessionEngine.flush` / ``close`` / exit.

A regeneration that comes after its turn's reply was logged cannot replace it (the index is
taken): it is not logged, counted as ``late_regeneration``, and the conversation still threads.
"""

from __future__ import annotations

import atexit
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b

from .. import events as ev
from .._internal import capture_internal_exceptions, logger, report_internal_error
from ..client import AlignClient
from .context import LAST_SESSION_ID, current_scope
from .messages import (
    ASSISTANT,
    ASSISTANT_KINDS,
    LOGGED_KINDS,
    TOOL_CALLS,
    USER,
    ChatItem,
    chain_hash,
    chain_hashes,
    root_hash,
    tool_call_key,
)
from .scheduler import Ticker
from .store import InMemorySessionStore, MessageRef, ResponsePoint, SessionState, SessionStore, ThreadPoint

RedactHook = Callable[[str, str], str]

DEFAULT_ASSISTANT_PROPERTIES: tuple[str, ...] = (
    "model",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "finish_reason",
    "incomplete",
)
"""Custom properties put on assistant messages by default (Align allows at most 10 per event)."""

_MAX_CANDIDATES = 4


@dataclass(eq=False)
class Turn:
    """One model call being captured. Created by :meth:`SessionEngine.begin_turn`; pass it to
    exactly one of :meth:`SessionEngine.end_turn` / :meth:`SessionEngine.fail_turn` (later calls
    are ignored).

    Attributes:
        session_id: the resolved Align session.
        user_id: the session's user.
        reply_index: the index the assistant reply will take.
        regenerating: the request repeats one whose reply index was already reserved.
    """

    session_id: str
    user_id: str
    reply_index: int
    request_hash: bytes
    regenerating: bool = False
    started: float = field(default_factory=time.perf_counter)
    done: bool = False
    ref: MessageRef | None = None

    @property
    def elapsed_ms(self) -> int:
        """Milliseconds since the turn began."""
        return int((time.perf_counter() - self.started) * 1000)


@dataclass(eq=False)
class _Candidate:
    hashes: tuple[bytes, ...]
    text: str
    properties: dict[str, str] | None
    key: str | None


@dataclass(eq=False)
class _Pending:
    session_id: str
    index: int
    candidates: list[_Candidate]
    deadline: float


class SessionEngine:
    """Resolves sessions, assigns message indexes, logs through an :class:`AlignClient`, and
    closes idle sessions. Thread-safe; one per process is enough for every integration.

    Args:
        client: where events go.
        store: session state (default :class:`InMemorySessionStore` sized by ``session_timeout``).
        session_timeout: seconds of inactivity after which ``close_session`` is sent.
        default_user_id: user of sessions whose call names none.
        redact: ``(text, role) -> text`` applied to every message before it is enqueued; if it
            raises, that message is not sent (never unredacted) and the error is counted.
        settle_seconds: how long a reply stays pending for a possible regeneration (see module doc).
        assistant_properties: which custom property names assistant messages keep (at most 10).
        tick_interval: seconds between the scheduler's passes (default: derived from the timeouts).

    Raises:
        ValueError: a bound is not positive or more than 10 assistant properties are asked for.

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
        settle_seconds: float = 10.0,
        assistant_properties: Collection[str] = DEFAULT_ASSISTANT_PROPERTIES,
        tick_interval: float | None = None,
    ) -> None:
        if session_timeout <= 0 or settle_seconds < 0:
            raise ValueError("session_timeout must be > 0 and settle_seconds >= 0")
        if len(assistant_properties) > ev.MAX_CUSTOM_PROPERTIES:
            raise ValueError(f"at most {ev.MAX_CUSTOM_PROPERTIES} assistant_properties")
        self.client = client
        self.store: SessionStore = store if store is not None else InMemorySessionStore(session_timeout)
        self.session_timeout = float(session_timeout)
        self.default_user_id = ev.check_id("default_user_id", default_user_id)
        self.redact = redact
        self.settle_seconds = float(settle_seconds)
        self.assistant_properties = frozenset(assistant_properties)
        self.counters: dict[str, int] = {}
        self._lock = threading.RLock()
        self._pending: dict[str, _Pending] = {}
        # open_session arguments for sessions whose first message is not logged yet
        self._opening: dict[str, tuple[str | None, Mapping[str, str] | None]] = {}
        self._closed = False
        if tick_interval is None:
            tick_interval = min(1.0, self.session_timeout / 4, max(self.settle_seconds / 2, 0.05))
        self._ticker = Ticker(self._tick, tick_interval)
        # Runs before the client's own exit flush (atexit is last-in, first-out), so held replies
        # reach the buffer that flush then delivers.
        self._atexit = _weak_method(self._at_exit)
        atexit.register(self._atexit)

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
        """Resolve the session of a model call and log the user (and unseen assistant) messages
        that it adds to the conversation. Call it just before the provider call.

        Args:
            partition: isolates implicit threading (e.g. a hash of the provider API key and base URL).
            messages: the request's conversation as canonical items, in order, system/developer
                messages left out (see :mod:`~align_instrument.sessions.messages`).
            user_id: the request's end-user id (``user`` / ``safety_identifier`` / run metadata);
                a scope's user wins over it; default ``default_user_id``.
            session_id: an explicit session id known to the integration (Responses ``conversation``,
                LangChain metadata); a scope's wins over it.
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
            >>> turn.session_id, turn.reply_index
            ('6c1f...', 2)
        """
        scope = current_scope()
        if scope is not None:
            session_id = scope.session_id
            user_id = scope.user_id or user_id
            assistant_id = scope.assistant_id or assistant_id
            custom_properties = scope.custom_properties or custom_properties
        user = _safe_id(user_id) if user_id else self.default_user_id
        self._ticker.ensure_started()
        now = time.time()
        with self._lock:
            turn = self._begin(
                partition,
                messages,
                user,
                session_id,
                previous_response_id,
                delta,
                now,
                (assistant_id, custom_properties),
            )
        LAST_SESSION_ID.set(turn.session_id)
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
        """Record the model's reply to a turn.

        The reply is held pending (see the module doc) and logged with its index; ``latency_ms``
        is added unless given. A reply with no text (only tool calls) is not logged but still
        threads the conversation.

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
        props = self._assistant_properties(turn, properties, incomplete)
        text = reply_text.strip() if reply_text else ""
        now = time.time()
        with self._lock:
            state = self.store.get_session(turn.session_id)
            if state is None:
                state, evicted = self.store.create_session(turn.session_id, turn.user_id, now)
                self._close_states(evicted)
            ref: MessageRef | None = None
            if text:
                index = turn.reply_index
                h_text = chain_hash(turn.request_hash, ASSISTANT, text)
                hashes = [h_text]
                self.store.put_thread(h_text, ThreadPoint(turn.session_id, index + 1))
                if tool_call_ids:
                    h_tools = chain_hash(h_text, TOOL_CALLS, tool_call_key(tool_call_ids))
                    hashes.append(h_tools)
                    self.store.put_thread(h_tools, ThreadPoint(turn.session_id, index + 1))
                ref = MessageRef(turn.session_id, index)
                candidate = _Candidate(tuple(hashes), reply_text or "", props, response_id)
                pending = self._pending.get(turn.session_id)
                if pending is not None and pending.index == index:
                    pending.candidates.append(candidate)
                    del pending.candidates[:-_MAX_CANDIDATES]
                    pending.deadline = time.monotonic() + self.settle_seconds
                    self._count("regenerated")
                elif turn.regenerating and state.last_reply_index >= index:
                    # Its turn's reply was already logged: that index cannot be reused.
                    self._count("late_regeneration")
                else:
                    if pending is not None:
                        self._commit(pending, None)
                    self._pending[turn.session_id] = _Pending(
                        turn.session_id, index, [candidate], time.monotonic() + self.settle_seconds
                    )
                    if self.settle_seconds == 0:
                        self._commit(self._pending[turn.session_id], None)
                state.next_index = max(state.next_index, index + 1)
                state.last_reply_index = max(state.last_reply_index, index)
                next_index = index + 1
            else:
                next_index = turn.reply_index
                if tool_call_ids:
                    h_tools = chain_hash(turn.request_hash, TOOL_CALLS, tool_call_key(tool_call_ids))
                    self.store.put_thread(h_tools, ThreadPoint(turn.session_id, next_index))
            if response_id:
                self.store.put_response(
                    response_id,
                    ResponsePoint(turn.session_id, next_index, ref.message_index if ref else None),
                )
            self.store.save_session(state, now)
        turn.ref = ref
        return ref

    def fail_turn(self, turn: Turn) -> None:
        """The provider call failed: nothing more is logged (the user message already was, and a
        retry of the same request will not log it again).

        Example:
            >>> engine.fail_turn(turn)
        """
        turn.done = True

    def register_ref(self, key: str, ref: MessageRef) -> None:
        """Map another key (e.g. a LangChain run id, as ``str(run_id)``) to a logged message, so
        that ``message_ref(key)`` and ``feedback(key, ...)`` find it (bounded, expires with the session).

        Example:
            >>> engine.register_ref(str(run_id), ref)
        """
        self.store.put_response(key, ResponsePoint(ref.session_id, ref.message_index + 1, ref.message_index))

    def message_ref(self, key: str) -> MessageRef | None:
        """The message logged for a response id / registered key, or None (unknown, expired, or the
        response had no text).

        Example:
            >>> engine.message_ref("chatcmpl-1")
            MessageRef(session_id='6c1f...', message_index=2)
        """
        point = self.store.get_response(key)
        if point is None or point.message_index is None:
            return None
        return MessageRef(point.session_id, point.message_index)

    def send_feedback(self, ref: MessageRef, feedback_type: str, *, key: str | None = None) -> None:
        """Send ``create_message_feedback`` for a captured message; a pending reply is logged first
        (the variant produced for ``key`` if given), since the user rated what they saw.

        Raises:
            ValidationError: ``feedback_type`` is not ``"thumbs_up"`` / ``"thumbs_down"``.
        """
        ev.check_feedback_type(feedback_type)
        with self._lock:
            pending = self._pending.get(ref.session_id)
            if pending is not None and pending.index == ref.message_index:
                self._commit(pending, key)
        self.client.create_message_feedback(ref.session_id, ref.message_index, feedback_type)

    def flush(self) -> None:
        """Log every pending reply now (call before ``client.flush()``; autoinstrument hooks it)."""
        with self._lock:
            for pending in list(self._pending.values()):
                self._commit(pending, None)

    def close(self, *, close_sessions: bool = True) -> None:
        """Log pending replies, optionally close every tracked session, stop the scheduler."""
        self._ticker.stop()
        with capture_internal_exceptions(self.client, "engine_close"):
            self.flush()
            if close_sessions:
                with self._lock:
                    self._close_states(self.store.pop_all())
        self._closed = True
        atexit.unregister(self._atexit)

    def stats(self) -> dict[str, int]:
        """Counters: ``regenerated``, ``late_regeneration``, ``sessions_opened``, ``sessions_closed``."""
        with self._lock:
            return dict(self.counters)

    # --- internals --------------------------------------------------------------------------------------

    def _begin(
        self,
        partition: str,
        items: Sequence[ChatItem],
        user: str,
        session_id: str | None,
        previous_response_id: str | None,
        delta: bool,
        now: float,
        opening: tuple[str | None, Mapping[str, str] | None],
    ) -> Turn:
        store = self.store
        count = len(items)
        sid: str | None = None
        state: SessionState | None = None
        if session_id is not None:
            sid = _safe_id(session_id)
            state = store.get_session(sid)
            if delta:
                root = root_hash("d", sid, str(state.last_reply_index if state else 0))
                base = state.next_index if state else 1
            else:
                root = root_hash("s", sid)
                base = 1
        elif (
            previous_response_id is not None
            and (point := store.get_response(previous_response_id)) is not None
        ):
            sid = point.session_id
            state = store.get_session(sid)
            root = root_hash("p", previous_response_id)
            base = point.next_index
            delta = True
        else:
            root = root_hash("i", partition, user)
            base = 1
        hashes = chain_hashes(root, items)

        # The longest known prefix (chained hashes: if h_j is known, so were the shorter ones).
        skip = 0
        known: ThreadPoint | None = None
        for j in range(count, 0, -1):
            point_j = store.get_thread(hashes[j - 1])
            if point_j is not None and (sid is None or point_j.session_id == sid):
                skip, known = j, point_j
                break

        if sid is None:  # implicit threading
            if known is not None:
                state = store.get_session(known.session_id)
            if (
                known is None
                or state is None
                or not _has_model_output(items, skip)
                or not _continues(known, state, skip == count)
            ):
                sid, state, skip, base = uuid.uuid4().hex, None, 0, 1
            else:
                sid, base = known.session_id, known.next_index
        elif known is not None and state is not None and _continues(known, state, skip == count):
            base = known.next_index
        elif known is not None and state is None:
            base = known.next_index  # a closed session continued by id
        elif state is not None and not delta:
            # History we cannot place (stateless calls in a scope, or a fork): the new turn is the
            # items after the last model output, appended at the session's next index.
            skip = 0
            for j in range(count, 0, -1):
                if items[j - 1].kind in ASSISTANT_KINDS:
                    skip = j
                    break
            base = state.next_index
        else:
            skip = 0
        if state is None:
            state, evicted = store.create_session(sid, user, now)
            self._close_states(evicted)
        # A closed session resumed by id never reuses its indexes.
        base = max(base, state.next_index) if not (known is not None and skip == count) else base
        if not state.opened:
            self._opening[sid] = opening

        # A pending reply that this request carries forward is the one the conversation went on with.
        pending = self._pending.get(sid)
        if pending is not None and pending.index < base:
            seen = set(hashes[:skip])
            chosen = next((c for c in pending.candidates if seen.intersection(c.hashes)), None)
            self._commit(pending, chosen.key if chosen else None, chosen)

        index = base
        for i in range(skip, count):
            kind, text = items[i]
            if kind in LOGGED_KINDS and text.strip():
                self._log(state, index, kind, text, None)
                index += 1
            store.put_thread(hashes[i], ThreadPoint(sid, index))
        regenerating = skip == count and 0 < index <= state.last_reply_index
        if not regenerating:
            state.next_index = max(state.next_index, index)
        store.save_session(state, now)
        return Turn(sid, state.user_id, index, hashes[-1] if hashes else root, regenerating)

    def _log(
        self, state: SessionState, index: int, role: str, text: str, props: dict[str, str] | None
    ) -> None:
        try:
            content = self.redact(text, role) if self.redact is not None else text
            if not state.opened:
                assistant_id, custom = self._opening.pop(state.session_id, (None, None))
                self.client.open_session(state.session_id, state.user_id, assistant_id, custom)
                state.opened = True
                self._count("sessions_opened")
            self.client.create_message(state.session_id, index, role, content, props)
        except Exception:
            report_internal_error(self.client, "log_message")

    def _commit(self, pending: _Pending, key: str | None, chosen: _Candidate | None = None) -> None:
        if self._pending.get(pending.session_id) is pending:
            del self._pending[pending.session_id]
        if chosen is None:
            chosen = next(
                (c for c in pending.candidates if key is not None and c.key == key), pending.candidates[-1]
            )
        state = self.store.get_session(pending.session_id)
        if state is None:
            state = SessionState(pending.session_id, self.default_user_id, opened=True)
        self._log(state, pending.index, ASSISTANT, chosen.text, chosen.properties)

    def _close_states(self, states: Sequence[SessionState]) -> None:
        for state in states:
            pending = self._pending.get(state.session_id)
            if pending is not None:
                self._commit(pending, None)
            self._opening.pop(state.session_id, None)
            if state.opened:
                with capture_internal_exceptions(self.client, "close_session"):
                    self.client.close_session(state.session_id)
                    self._count("sessions_closed")

    def _tick(self) -> None:
        with capture_internal_exceptions(self.client, "session_tick"), self._lock:
            mono = time.monotonic()
            for pending in [p for p in self._pending.values() if p.deadline <= mono]:
                self._commit(pending, None)
            self._close_states(self.store.pop_expired(time.time() - self.session_timeout))

    def _at_exit(self) -> None:
        if not self._closed:
            self.close(close_sessions=True)

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
        return out or None

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1


def _has_model_output(items: Sequence[ChatItem], end: int) -> bool:
    """Whether ``items[:end]`` holds a model output (searched from the end, where it usually is)."""
    return any(items[i].kind in ASSISTANT_KINDS for i in range(end - 1, -1, -1))


def _continues(known: ThreadPoint, state: SessionState, whole_request_known: bool) -> bool:
    """Whether a known prefix may continue its session here, rather than fork it.

    It may when nothing was logged after the prefix (a continuation, or the retry of a failed
    call), or when the whole request is known and only its reply followed (a regeneration).
    """
    if known.next_index == state.next_index:
        return True
    return whole_request_known and known.next_index == state.last_reply_index == state.next_index - 1


def _safe_id(value: str) -> str:
    """An id usable on the wire: at most 64 characters (longer ones become a stable digest)."""
    value = str(value)
    if 0 < len(value) <= ev.MAX_ID_CHARS:
        return value
    return "h_" + blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _weak_method(method: Callable[[], None]) -> Callable[[], None]:
    """An atexit callback that does not keep the engine alive."""
    ref = weakref.WeakMethod(method)

    def call() -> None:
        target = ref()
        if target is not None:
            try:
                target()
            except Exception:
                logger.debug("align_instrument: engine exit hook failed", exc_info=True)

    return call


__all__ = [
    "DEFAULT_ASSISTANT_PROPERTIES",
    "USER",
    "ChatItem",
    "MessageRef",
    "SessionEngine",
    "Turn",
]
