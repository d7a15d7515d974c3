"""``align-instrument demo``: the automatic path, end to end on one machine, in a few seconds.

Starts the local collector in this process, calls :func:`~align_instrument.autoinstrument`, then
has an unmodified app talk to an LLM through the ``openai`` SDK (a real OpenAI model when
``OPENAI_API_KEY`` is set, otherwise the OpenAI-compatible endpoint of
:mod:`align_instrument.local_llm`, so the same code path runs offline) and through a LangChain
chat model, with feedback; finally prints the transcripts as the collector stored them and the
command that opens the web page. Without the ``openai`` package it falls back to the explicit API.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .client import AlignClient
from .collector.server import start_collector
from .events import FEEDBACK_THUMBS_DOWN, FEEDBACK_THUMBS_UP, ROLE_ASSISTANT, ROLE_USER

DEMO_USER_ID = "demo-user"
REAL_MODEL = "gpt-4o-mini"

_SUPPORT_QUESTIONS = ("How do I reset my password?", "The e-mail never arrived.", "Found it, thanks!")
_SYSTEM_PROMPT = "You are a concise support assistant for an app. Answer in one or two sentences."


def run_conversation(host: str) -> list[str]:
    """Run the demo's conversations against the Align API at ``host`` and deliver them.

    Args:
        host: the collector's URL, e.g. ``http://127.0.0.1:8787``.

    Returns:
        The ids of the sessions it created, in order.

    Raises:
        RuntimeError: the events could not all be delivered.

    Example:
        >>> run_conversation("http://127.0.0.1:8787")
        ['demo-...', ...]
    """
    if not _installed("openai"):
        _progress("      (the openai package is not installed: using the explicit API instead;")
        _progress("       pip install 'align-instrument[demo]' to see autoinstrument())")
        return [_explicit_conversation(host)]
    return _instrumented_conversations(host)


def _instrumented_conversations(host: str) -> list[str]:
    import openai

    import align_instrument as align

    run_tag = time.strftime("%H%M%S", time.gmtime()) + os.urandom(2).hex()
    client = align.autoinstrument(host=host, default_user_id=DEMO_USER_ID)
    try:
        with _llm_endpoint() as (base_url, api_key, model):
            llm = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=1)
            sessions: list[str] = []

            # 1. An unmodified multi-turn chat: each call re-sends the history; the instrumentation
            #    threads the calls into one session and logs only the new messages.
            _progress("      a 3-turn support chat through openai.chat.completions.create")
            messages: list[dict[str, Any]] = [{"role": "system", "content": _SYSTEM_PROMPT}]
            first_reply = None
            reply = None
            for question in _SUPPORT_QUESTIONS:
                messages.append({"role": "user", "content": question})
                reply = llm.chat.completions.create(model=model, messages=messages, user=DEMO_USER_ID)  # type: ignore[arg-type]
                first_reply = first_reply or reply
                messages.append({"role": "assistant", "content": reply.choices[0].message.content or ""})
            align.feedback(first_reply, FEEDBACK_THUMBS_DOWN)
            align.feedback(reply, FEEDBACK_THUMBS_UP)
            sessions.append(str(align.current_session()))

            # 2. An explicit session, with a streamed reply.
            _progress("      a streamed answer inside align.session(...)")
            with align.session(f"demo-billing-{run_tag}", user_id="demo-user-2", assistant_id="billing-bot"):
                stream = llm.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": "Can I get an invoice for last month?"}],
                    stream=True,
                )
                for _chunk in stream:
                    pass
                sessions.append(str(align.current_session()))

            # 3. LangChain: the globally registered handler logs the chat model's turns.
            if _installed("langchain_openai"):
                _progress("      a LangChain ChatOpenAI turn (the global callback handler)")
                from langchain_openai import ChatOpenAI

                chat = ChatOpenAI(base_url=base_url, api_key=api_key, model=model)  # type: ignore[arg-type]
                run_id = uuid.uuid4()
                chat.invoke(
                    "What are your opening hours?",
                    config={
                        "run_id": run_id,
                        "metadata": {"session_id": f"demo-langchain-{run_tag}", "user_id": "demo-user-3"},
                    },
                )
                align.feedback(run_id, FEEDBACK_THUMBS_UP)  # apps that rate by LangChain run id
                sessions.append(f"demo-langchain-{run_tag}")
        delivered = client.flush(timeout_seconds=10)
    finally:
        align.uninstrument()
        client.close(timeout_seconds=5)
    if not delivered:
        raise RuntimeError(f"the demo's events were not all delivered to {host}: {client.stats()}")
    return sessions


@contextlib.contextmanager
def _llm_endpoint() -> Iterator[tuple[str | None, str, str]]:
    """(base_url, api_key, model): OpenAI itself when a key is set, else the local endpoint."""
    if os.environ.get("OPENAI_API_KEY"):
        _progress(f"      OPENAI_API_KEY is set: using OpenAI's {REAL_MODEL}")
        yield os.environ.get("OPENAI_BASE_URL"), os.environ["OPENAI_API_KEY"], REAL_MODEL
        return
    from .local_llm import start_local_llm

    with start_local_llm() as llm:
        _progress(f"      no OPENAI_API_KEY: using the local OpenAI-compatible endpoint {llm.base_url}")
        yield llm.base_url, "sk-local", "local-demo"


def _explicit_conversation(host: str) -> str:
    session_id = time.strftime("demo-%Y%m%d-%H%M%S-", time.gmtime()) + os.urandom(3).hex()
    client = AlignClient(host=host)
    client.identify_user(DEMO_USER_ID, display_name="Demo User", country_code="US")
    client.open_session(session_id, DEMO_USER_ID, assistant_id="support-bot")
    for n, question in enumerate(_SUPPORT_QUESTIONS):
        client.create_message(session_id, 2 * n + 1, ROLE_USER, question)
        client.create_message(session_id, 2 * n + 2, ROLE_ASSISTANT, f"(canned answer to: {question})")
    client.create_message_feedback(session_id, 2, FEEDBACK_THUMBS_DOWN)
    client.create_session_feedback(session_id, FEEDBACK_THUMBS_UP)
    client.close_session(session_id)
    if not client.close(timeout_seconds=10):
        raise RuntimeError(f"the demo's events were not all delivered to {host}: {client.stats()}")
    return session_id


def run_demo(db_path: str | None = None) -> int:
    """Run the demo end to end; returns the exit status (0 on success).

    Args:
        db_path: where the collector stores events; a new temporary file when None (kept
            afterwards, so the web page can be opened on it).

    Example:
        >>> run_demo()
        0
    """
    from .collector.transcript import print_transcript

    started = time.monotonic()
    if db_path is None:
        db_path = str(Path(tempfile.mkdtemp(prefix="align-demo-")) / "align-demo.db")
    _progress(f"[1/3] starting the local collector (database {db_path})")
    with start_collector(port=0, db_path=db_path) as collector:
        _progress(f"[2/3] running an instrumented app against {collector.url}")
        session_ids = run_conversation(collector.url)
        _progress("[3/3] reading it back from the collector")
        shown = [s for s in (collector.store.session(sid) for sid in session_ids) if s is not None]
    _progress(f"done in {time.monotonic() - started:.1f} s\n")
    if not shown:
        print("align-instrument demo: the collector received no session", file=sys.stderr)
        return 1
    for session in shown:
        print_transcript(session, sys.stdout)
        print()
    print("See them in the web page:")
    print(f"  align-instrument serve --db {db_path}")
    print(f"  then open http://127.0.0.1:8787/sessions/{quote(shown[0].session_id, safe='')}")
    return 0


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
