"""A worker process of a chat app, as gunicorn would run it: the real ``openai`` SDK against the
local OpenAI-compatible server, instrumented with ``autoinstrument(session_store=...)``.

Usage: ``python redis_worker.py LLM_BASE_URL COLLECTOR_URL STORE SESSION_TIMEOUT`` where STORE is
a redis:// URL, ``env`` (taken from ALIGNAI_SESSION_STORE) or ``memory``. Says ``{"ready": true}``
once instrumented, then reads one JSON request per line on stdin and answers one JSON line on stdout:

- ``{"messages": [...], "user": ..., "session": ..., "seed": ..., "at": unix_time}``: waits until
  ``at`` (when given), makes the chat call (inside ``align.session(session)`` when given) and
  answers ``{"reply": text, "seconds": call_duration}`` (or ``{"error": repr}``);
- ``{"stats": true}``: answers the client's ``stats()``.

End of input: the app exits normally (``client.close()``; a shared store's sessions stay open).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

# This app uses only openai: the other SDKs that happen to be installed here stay unimported
# (as if absent), so that a worker starts in about a second, not ten, on a loaded machine.
for _absent in ("anthropic", "langchain_core", "llama_index"):
    sys.modules[_absent] = None  # type: ignore[assignment]

import openai  # noqa: E402

import align_instrument as align  # noqa: E402


def main() -> None:
    llm_url, collector_url, store, timeout = sys.argv[1:5]
    session_store = None if store in ("memory", "env") else store
    client = align.autoinstrument(
        host=collector_url, session_store=session_store, session_timeout=float(timeout), flush_interval=0.05
    )
    oa = openai.OpenAI(base_url=llm_url, api_key="local", max_retries=0)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("stats"):
            answer: dict[str, Any] = {"stats": client.stats()}
        else:
            answer = chat(oa, request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    client.close(5)


def chat(oa: openai.OpenAI, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("at"):
        time.sleep(max(0.0, request["at"] - time.time()))
    kwargs: dict[str, Any] = {"model": "local", "messages": request["messages"]}
    if request.get("user"):
        kwargs["user"] = request["user"]
    if request.get("seed") is not None:
        kwargs["seed"] = request["seed"]
    started = time.perf_counter()
    try:
        if request.get("session"):
            with align.session(request["session"]):
                reply = oa.chat.completions.create(**kwargs)
        else:
            reply = oa.chat.completions.create(**kwargs)
    except Exception as exc:
        return {"error": repr(exc)}
    return {"reply": reply.choices[0].message.content, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    main()
