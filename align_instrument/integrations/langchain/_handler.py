"""``AlignCallbackHandler``: LangChain chat model and LLM runs logged as Align sessions and messages."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ..._internal import ErrorCounter, capture_internal_exceptions
from ...client import AlignClient
from ...events import check_feedback_type, check_id
from ...sessions.context import LAST_SESSION_ID, SUPPRESS_PROVIDER_CAPTURE, current_scope, scope_id, session
from ...sessions.engine import SessionEngine, Turn
from ...sessions.messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem, tool_call_key
from ...sessions.store import MessageRef
from ._convert import content_text, message_role, tool_call_ids
from ._history import history_owns_session, open_history_count

PARTITION = "langchain"
"""Implicit threading partition of LangChain runs: one for all models, so a conversation that
moves between models (fallbacks, routing) stays one session."""

SESSION_METADATA_KEYS: tuple[str, ...] = ("align_session_id", "session_id", "thread_id", "conversation_id")
"""Run metadata keys read for the session id, in order (``thread_id`` is LangGraph's)."""

USER_METADATA_KEYS: tuple[str, ...] = ("align_user_id", "user_id")
"""Run metadata keys read for the user id, in order."""

HISTORY_RUNNABLE_NAME = "RunnableWithMessageHistory"

_MAX_CHAINS = 10_000  # chain runs tracked at once (for feedback by chain run id); oldest dropped
_MAX_RUNS = 10_000  # model runs in flight; a run whose end never comes is dropped when exceeded


class RunFlag:
    """The value the handler puts in ``SUPPRESS_PROVIDER_CAPTURE`` for one model run: truthy while
    the run is in flight (or while an enclosing run's flag is), falsy once it ended.

    Why an object and not ``True``: LangChain ends async runs in copied contexts (``asyncio.gather``
    in ``agenerate``, ``@shielded`` callbacks, the v3 event stream's producer task), where resetting
    a context variable cannot reach the caller's context, which would then keep ``True`` and hide
    the app's later direct OpenAI calls. Ending the run flips the shared object instead, so every
    context that copied it sees the run as over. Provider integrations read the flag with
    ``bool()`` (``if SUPPRESS_PROVIDER_CAPTURE.get(): ...``), never with ``is True``.

    Args:
        outer: the flag in effect when the run started (kept only while truthy: an enclosing run).

    Example:
        >>> flag = RunFlag(False); bool(flag)
        True
        >>> flag.active = False; bool(flag)
        False
    """

    __slots__ = ("active", "outer")

    def __init__(self, outer: object) -> None:
        self.active = True
        # Dead flags are dropped here, so the chain is only as long as the nesting of live runs.
        self.outer: object = outer if outer else False

    def __bool__(self) -> bool:
        return self.active or bool(self.outer)

    def __repr__(self) -> str:
        return f"RunFlag(active={self.active})"


def _raise_flag() -> RunFlag:
    flag = RunFlag(SUPPRESS_PROVIDER_CAPTURE.get())
    SUPPRESS_PROVIDER_CAPTURE.set(cast(bool, flag))  # a truthy stand-in for True, see RunFlag
    return flag


def _lower_flag(flag: RunFlag) -> None:
    flag.active = False
    current: object = SUPPRESS_PROVIDER_CAPTURE.get()
    if current is flag:  # same context: give it its value back
        SUPPRESS_PROVIDER_CAPTURE.set(cast(bool, flag.outer))


class _Run(NamedTuple):
    engine: SessionEngine
    turn: Turn | None  # None: the run is logged by an AlignChatMessageHistory, not here
    parent_run_id: UUID | None
    flag: RunFlag | None  # what this run put in SUPPRESS_PROVIDER_CAPTURE (None: nothing)
    model: str | None


class _Chain(NamedTuple):
    parent_run_id: UUID | None
    under_history: bool  # inside a RunnableWithMessageHistory


# Private engines of handlers given their own client, one per client, so that handlers made per
# request share sessions and one scheduler thread. (An engine refers to its client, so entries
# live as long as the process in practice: apps have one client, or a few.)
_engines: weakref.WeakKeyDictionary[AlignClient, SessionEngine] = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


def _engine_for_client(client: AlignClient) -> SessionEngine:
    from ...instrument import active_engine

    active = active_engine()
    if active is not None and active.client is client:
        return active
    with _engines_lock:
        engine = _engines.get(client)
        if engine is None:
            engine = _engines[client] = SessionEngine(client, tick_interval=1.0)
            # client.close() closes the handler's sessions while it still accepts their events.
            client.add_close_hook(engine.close)
        return engine


def _metadata_id(metadata: Mapping[str, Any] | None, keys: Sequence[str]) -> str | None:
    if not metadata:
        return None
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, (str, int, UUID)) and not isinstance(value, bool):
            text = str(value)
            if text:
                return text
    return None


def chat_items(messages: Sequence[Any]) -> list[ChatItem]:
    """LangChain messages as the engine's canonical items, by the same rules as the OpenAI integration.

    System and developer messages are left out; an AI message gives an ``assistant`` item for its
    text and a ``tool_calls`` item for its tool calls; a tool message gives a ``tool`` item.

    Example:
        >>> chat_items([SystemMessage("be brief"), HumanMessage("Hi")])
        [ChatItem(kind='user', text='Hi')]
    """
    items: list[ChatItem] = []
    append = items.append
    for message in messages:
        # Fast path for the common shapes (runs once per message per model call).
        kind = getattr(message, "type", None)
        content = getattr(message, "content", "")
        text = content if type(content) is str else content_text(content)
        if kind == "human":
            append(ChatItem(USER, text))
            continue
        if kind == "system":
            continue
        role = "assistant" if kind == "ai" else message_role(message)
        if role == "user":
            append(ChatItem(USER, text))
        elif role == "assistant":
            if text:
                append(ChatItem(ASSISTANT, text))
            ids = tool_call_ids(message)
            if ids:
                append(ChatItem(TOOL_CALLS, tool_call_key(ids)))
        elif role == "tool":
            append(ChatItem(TOOL_RESULT, str(getattr(message, "tool_call_id", ""))))
        elif role == "function":
            append(ChatItem(TOOL_RESULT, str(getattr(message, "name", ""))))
    return items


def _reply(response: Any, run_model: str | None = None) -> tuple[str, list[str], Mapping[str, object]]:
    """The reply text, tool call ids and message properties of an ``LLMResult``.

    ``run_model`` (the model named at the run's start) stands in when the response names none.
    """
    text, call_ids, props = _read_reply(response)
    if run_model and not props.get("model"):
        props["model"] = run_model
    return text, call_ids, props


def _read_reply(response: Any) -> tuple[str, list[str], dict[str, object]]:
    generations = getattr(response, "generations", None) or []
    first = generations[0] if generations else []
    if not first:
        return "", [], {}
    generation = first[0]
    message = getattr(generation, "message", None)
    props: dict[str, object] = {}
    info = getattr(generation, "generation_info", None) or {}
    if message is None:  # a text-completion LLM
        props["finish_reason"] = info.get("finish_reason")
        return str(getattr(generation, "text", "") or ""), [], props
    text = content_text(getattr(message, "content", ""))
    call_ids = tool_call_ids(message)
    usage = getattr(message, "usage_metadata", None) or {}
    if usage:
        props["input_tokens"] = usage.get("input_tokens")
        props["output_tokens"] = usage.get("output_tokens")
    metadata = getattr(message, "response_metadata", None) or {}
    props["finish_reason"] = metadata.get("finish_reason") or info.get("finish_reason")
    model = metadata.get("model_name") or metadata.get("model")
    if model:
        props["model"] = model
    return text, call_ids, props


class AlignCallbackHandler(BaseCallbackHandler):
    """Logs LangChain chat model and LLM runs to Align as sessions and indexed messages.

    For each chat model (or LLM) run it logs the new human turns of the run's input and the
    model's reply when it has text; tool-call steps and tool results are not logged, so an agent
    loop logs the user's turn and the final answer. Works with ``invoke``, ``batch`` (each input
    its own conversation), ``stream``, ``astream``, ``astream_events`` and their async forms; a
    failed run still logs the human turn.

    Session id, in order: ``session_id`` given here; an enclosing ``align.session(...)`` scope;
    run metadata ``align_session_id``, ``session_id``, ``thread_id`` (LangGraph),
    ``conversation_id``; else implicit threading (a call whose messages continue a conversation
    logged before joins its session). User id: ``user_id`` given here; the scope's; metadata
    ``align_user_id`` / ``user_id``; else the engine's default user.

    The run id of a logged chat model run, and of every chain run containing it, maps to the
    reply: ``align.message_ref(run_id)`` and ``align.feedback(run_id, "thumbs_down")`` work.

    The handler never changes LangChain's behaviour: its own errors are caught and counted in
    ``client.stats()["internal_errors"]``. ``align.autoinstrument()`` registers one globally; a
    handler passed in ``callbacks`` replaces the global one for that run instead of doubling it.

    Args:
        client: the :class:`~align_instrument.AlignClient` to log through. Default: the client of
            ``align.autoinstrument()`` if active, else one built from ``ALIGNAI_*`` variables.
        session_id: log every run of this handler in this session (over 64 characters: sent
            as its stable digest ``h_<32 hex>``, as by ``align.session``).
        user_id: the user of those sessions (over 64 characters: its digest).
        assistant_id: sent with ``open_session`` (default ``"DEFAULT"``).

    Raises:
        ValidationError: an id given here breaks its Align rule.
        ConfigurationError: no client given, ``autoinstrument()`` not active, and the environment
            lacks ``ALIGNAI_API_KEY`` / ``ALIGNAI_PROJECT_ID`` for a remote host.

    Example:
        >>> handler = AlignCallbackHandler(client=client, user_id="u-1")
        >>> chain.invoke({"question": "Hi"}, config={"callbacks": [handler],
        ...                                           "metadata": {"session_id": "s-1"}})
    """

    # Inline: on the async paths the handler then runs in the caller's context, so the
    # suppression flag it sets reaches the provider call (a non-inline sync handler would run in
    # an executor with a copied context, an async one in a separate task).
    run_inline = True
    raise_error = False

    def __init__(
        self,
        client: AlignClient | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        assistant_id: str | None = None,
        *,
        _engine: SessionEngine | None = None,
    ) -> None:
        super().__init__()
        self.session_id = None if session_id is None else scope_id("session_id", session_id)
        self.user_id = None if user_id is None else scope_id("user_id", user_id)
        self.assistant_id = None if assistant_id is None else check_id("assistant_id", assistant_id)
        # _engine: the global handler's engine (set by install, cleared by uninstall). Otherwise a
        # given client gets its engine now; no client means "autoinstrument()'s, looked up per run".
        self._global = _engine is not None
        self._engine: SessionEngine | None = _engine
        if _engine is None:
            if client is not None:
                self._engine = _engine_for_client(client)
            else:
                from ...instrument import active_engine

                if active_engine() is None:
                    self._engine = _engine_for_client(AlignClient())
        self._runs: dict[UUID, _Run] = {}
        self._chains: OrderedDict[UUID, _Chain] = OrderedDict()
        # root chain run -> session of its latest model run, for current_session() after the chain
        self._root_sessions: OrderedDict[UUID, str] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(session_id={self.session_id!r}, user_id={self.user_id!r}, "
            f"assistant_id={self.assistant_id!r})"
        )

    # --- engine -----------------------------------------------------------------------------------------

    def _current_engine(self) -> SessionEngine | None:
        if self._engine is not None or self._global:
            return self._engine
        from ...instrument import active_engine

        return active_engine()

    def message_ref(self, run_id: UUID | str) -> MessageRef | None:
        """Where the reply of a run this handler logged went: ``(session_id, message_index)``.

        Works without ``autoinstrument()`` too (``align.message_ref(run_id)`` needs it).

        Args:
            run_id: the LangChain run id of a chat model run, or of a chain run containing one
                (its latest reply), as a ``UUID`` or a string.

        Returns:
            The ref, or None when no reply with text is known for the run (or it expired).

        Example:
            >>> handler.message_ref(run_id)
            MessageRef(session_id='s-1', message_index=2)
        """
        engine = self._current_engine()
        return engine.message_ref(str(run_id)) if engine is not None else None

    def feedback(self, run_id: UUID | str, feedback_type: str) -> bool:
        """Send thumbs up/down for the reply of a run (see :meth:`message_ref`).

        Args:
            run_id: a chat model run id or a chain run id, as for :meth:`message_ref`.
            feedback_type: ``"thumbs_up"`` or ``"thumbs_down"``.

        Returns:
            True when feedback was sent, False when no logged reply is known for the run.

        Raises:
            ValidationError: ``feedback_type`` is not a valid feedback type.

        Example:
            >>> handler.feedback(run_id, "thumbs_down")
            True
        """
        check_feedback_type(feedback_type)
        engine = self._current_engine()
        ref = engine.message_ref(str(run_id)) if engine is not None else None
        if engine is None or ref is None:
            return False
        engine.send_feedback(ref, feedback_type, key=str(run_id))
        return True

    def _disable(self) -> None:
        """Turn the global handler into a no-op (uninstall); runs in flight restore their flag."""
        self._engine = None

    # --- LangChain callbacks ----------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log the new human turns of a chat model run's input; suppress provider capture under it."""
        engine = self._current_engine()
        if engine is None:
            return
        with capture_internal_exceptions(engine.client, "langchain_start"):
            items = self._items(messages[0] if messages else [])
            self._start(engine, items, run_id, parent_run_id, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log a text-completion LLM run's prompt as the user's turn."""
        engine = self._current_engine()
        if engine is None:
            return
        with capture_internal_exceptions(engine.client, "langchain_start"):
            items = [ChatItem(USER, prompts[0])] if prompts else []
            self._start(engine, items, run_id, parent_run_id, metadata, kwargs)

    def _finish_run(self, run_id: UUID) -> _Run | None:
        """Forget a model run and lower its no-double-count flag, whichever way it ended."""
        run = self._runs.pop(run_id, None)
        if run is not None and run.flag is not None:
            _lower_flag(run.flag)
        return run

    def on_llm_end(
        self,
        response: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log the reply of a model run (when it has text) and map the run ids to it."""
        run = self._finish_run(run_id)
        if run is None or run.turn is None:
            return
        with capture_internal_exceptions(run.engine.client, "langchain_end"):
            text, call_ids, props = _reply(response, run.model)
            ref = run.engine.end_turn(
                run.turn, text, tool_call_ids=call_ids, properties=props, response_id=str(run_id)
            )
            if ref is not None:
                # Feedback by the id of any chain run containing this one rates its latest reply.
                for ancestor in self._ancestors(run.parent_run_id):
                    run.engine.register_ref(str(ancestor), ref)

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """A failed run keeps its logged human turn; a stream cut short logs its partial reply."""
        run = self._finish_run(run_id)
        if run is None or run.turn is None:
            return
        with capture_internal_exceptions(run.engine.client, "langchain_error"):
            text, _, props = _reply(kwargs.get("response"), run.model)
            if text.strip():
                run.engine.end_turn(
                    run.turn, text, properties=props, response_id=str(run_id), incomplete=True
                )
            else:
                run.engine.fail_turn(run.turn)

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the chain run's parent, so the chain's id can be used for feedback."""
        if self._current_engine() is None:
            return
        try:
            parent = self._chains.get(parent_run_id) if parent_run_id is not None else None
            under_history = (parent is not None and parent.under_history) or (
                kwargs.get("name") == HISTORY_RUNNABLE_NAME
            )
            chains = self._chains
            chains[run_id] = _Chain(parent_run_id, under_history)
            if len(chains) > _MAX_CHAINS:
                with self._lock:
                    while len(chains) > _MAX_CHAINS:
                        chains.popitem(last=False)
        except Exception:
            self._count("langchain_chain")

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Forget the chain run; a root chain makes its session the context's current session."""
        self._chains.pop(run_id, None)
        if parent_run_id is None and self._root_sessions:
            session_id = self._root_sessions.pop(run_id, None)
            if session_id is not None:
                # Sync chains end in the caller's context (their steps ran in copies of it), so
                # align.current_session() after chain.invoke() names the chain's session.
                LAST_SESSION_ID.set(session_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the chain run."""
        self._chains.pop(run_id, None)

    # --- internals --------------------------------------------------------------------------------------

    def _items(self, messages: Sequence[Any]) -> list[ChatItem]:
        """The canonical items of a run's input messages (a seam for tests of error containment)."""
        return chat_items(messages)

    def _start(
        self,
        engine: SessionEngine,
        items: list[ChatItem],
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        model = params.get("model") or params.get("model_name") or (metadata or {}).get("ls_model_name")
        turn: Turn | None = None
        if not self._logged_by_history(parent_run_id, metadata):
            turn = self._begin(engine, items, metadata)
            if parent_run_id is not None:
                self._remember_root_session(parent_run_id, turn.session_id)
        if len(self._runs) >= _MAX_RUNS:
            with self._lock:
                for stale_id in list(self._runs)[: len(self._runs) - _MAX_RUNS + 1]:
                    stale = self._runs.pop(stale_id, None)
                    if stale is not None and stale.flag is not None:
                        stale.flag.active = False  # its end never came: stop suppressing
        # Only now: if logging the turn failed above, the provider integration still captures it.
        flag = _raise_flag()
        self._runs[run_id] = _Run(engine, turn, parent_run_id, flag, model if model else None)

    def _begin(
        self, engine: SessionEngine, items: list[ChatItem], metadata: Mapping[str, Any] | None
    ) -> Turn:
        scope = current_scope()
        meta_user = _metadata_id(metadata, USER_METADATA_KEYS)
        if self.session_id is None and scope is None:
            return engine.begin_turn(
                partition=PARTITION,
                messages=items,
                user_id=self.user_id or meta_user,
                session_id=_metadata_id(metadata, SESSION_METADATA_KEYS),
                assistant_id=self.assistant_id,
            )
        # The handler's own ids beat the enclosing scope's: run the turn in an inner scope.
        inner = session(
            self.session_id or scope.session_id,  # type: ignore[union-attr]  # one is set
            user_id=self.user_id or (scope.user_id if scope else None),
            assistant_id=self.assistant_id or (scope.assistant_id if scope else None),
            custom_properties=scope.custom_properties if scope else None,
        )
        with inner:
            return engine.begin_turn(partition=PARTITION, messages=items, user_id=meta_user)

    def _logged_by_history(self, parent_run_id: UUID | None, metadata: Mapping[str, Any] | None) -> bool:
        """Whether an open AlignChatMessageHistory logs this run (it must not be logged twice)."""
        if not open_history_count():
            return False
        explicit = self.session_id or _metadata_id(metadata, SESSION_METADATA_KEYS)
        if explicit is not None and history_owns_session(explicit):
            return True
        parent = self._chains.get(parent_run_id) if parent_run_id is not None else None
        return parent is not None and parent.under_history

    def _remember_root_session(self, parent_run_id: UUID, session_id: str) -> None:
        ancestors = self._ancestors(parent_run_id)
        if not ancestors:
            return
        roots = self._root_sessions
        roots[ancestors[-1]] = session_id
        if len(roots) > _MAX_CHAINS:
            with self._lock:
                while len(roots) > _MAX_CHAINS:
                    roots.popitem(last=False)

    def _ancestors(self, run_id: UUID | None) -> list[UUID]:
        out: list[UUID] = []
        while run_id is not None and len(out) < 100:
            chain = self._chains.get(run_id)
            if chain is None:
                break
            out.append(run_id)
            run_id = chain.parent_run_id
        return out

    def _count(self, kind: str) -> None:
        engine = self._current_engine()
        counter: ErrorCounter | None = engine.client if engine is not None else None
        if counter is not None:
            counter.record_internal_error(kind)
