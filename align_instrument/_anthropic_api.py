"""The Anthropic-compatible ``POST /v1/messages`` of :mod:`align_instrument.local_llm`.

Replies are deterministic, as for the OpenAI endpoints: "You said: <last user text>". The real
``anthropic`` SDK talks to it with ``Anthropic(base_url=llm.anthropic_base_url, api_key="local")``.

- JSON: a ``Message`` (``content`` blocks, ``stop_reason``, ``usage`` with cache tokens: a
  ``system`` block marked ``cache_control`` is reported as ``cache_read_input_tokens``).
- ``stream: true``: Anthropic's SSE events ``message_start``, ``ping``, ``content_block_start`` /
  ``_delta`` / ``_stop``, ``message_delta``, ``message_stop``.
- Tool use: when ``tools`` are given and the last user message mentions "weather" (or the model
  name contains ``tool``), the reply is one ``tool_use`` block of the first tool (its string
  properties filled in from the question); after a ``tool_result`` block, the reply is text about it.
- Faults: the OpenAI endpoints' (``error-<status>`` / ``x-fault-status``, ``slow-<ms>``,
  ``cut-<n>``), answered with Anthropic's error body; and header ``x-stream-error-after: <n>``:
  ``n`` events, then an ``error`` event (``overloaded_error``), as the API does mid-stream.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from typing import Any

Frames = list[tuple[str | None, Any]]

_ids = itertools.count(1)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error body for an HTTP status."""
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}


def _tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _text(content: Any) -> str:
    parts: list[str] = []
    for block in _blocks(content):
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            parts.append(_text(block.get("content")))
    return " ".join(p for p in parts if p)


def _tool_input(tool: dict[str, Any], question: str) -> dict[str, Any]:
    value = question.rsplit(" in ", 1)[-1].strip(" ?.!") if " in " in question else question
    props = (tool.get("input_schema") or {}).get("properties") or {}
    return {name: value for name in props}


def plan_message(body: dict[str, Any], model: str) -> dict[str, Any] | str:
    """The ``Message`` that answers a request body, or an error message when the body is invalid."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "messages: must be a non-empty list of objects"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    last = messages[-1]
    user_texts = [
        _text([b for b in _blocks(m.get("content")) if b.get("type") == "text"])
        for m in messages
        if m.get("role") == "user"
    ]
    question = next((t for t in reversed(user_texts) if t), "")
    results = [b for b in _blocks(last.get("content")) if b.get("type") == "tool_result"]
    tools = body.get("tools") or []
    content: list[dict[str, Any]]
    if results:
        content = [{"type": "text", "text": f"Based on the tool result: {_text(results[-1].get('content'))}"}]
        stop = "end_turn"
    elif tools and last.get("role") == "user" and ("weather" in question.lower() or "tool" in model):
        tool = tools[0]
        call_id = "toolu_" + hashlib.sha1(f"{len(messages)}:{question}".encode()).hexdigest()[:20]
        content = [
            {
                "type": "tool_use",
                "id": call_id,
                "name": tool.get("name", "tool"),
                "input": _tool_input(tool, question),
            }
        ]
        stop = "tool_use"
    else:
        text = f"You said: {question}" if question else "Hello!"
        content = [{"type": "text", "text": text}]
        stop = "end_turn"
    system = body.get("system")
    cached = (
        any(isinstance(b, dict) and b.get("cache_control") for b in system)
        if isinstance(system, list)
        else False
    )
    system_tokens = _tokens(_text(system))
    input_tokens = sum(_tokens(_text(m.get("content"))) for m in messages)
    output_tokens = sum(_tokens(str(b.get("text", ""))) for b in content) + (3 if stop == "tool_use" else 0)
    return {
        "id": f"msg_local{next(_ids):08d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens + (0 if cached else system_tokens),
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": system_tokens if cached else 0,
        },
    }


def stream_frames(message: dict[str, Any], error_after: int | None = None) -> Frames:
    """The SSE events of a streamed ``message`` (``error_after``: an ``error`` event after that many)."""
    start = dict(message, content=[], stop_reason=None, usage=dict(message["usage"], output_tokens=1))
    frames: Frames = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            first = dict(block, text="")
            words = block["text"].split(" ")
            deltas = [
                {"type": "text_delta", "text": w + (" " if i < len(words) - 1 else "")}
                for i, w in enumerate(words)
            ]
        else:
            first = dict(block, input={})
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        frames.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": first})
        )
        for delta in deltas:
            frames.append(
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        frames.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    frames.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    frames.append(("message_stop", {"type": "message_stop"}))
    if error_after is not None and error_after < len(frames):
        frames = [*frames[:error_after], ("error", error_body(529, "Overloaded"))]
    return frames


def answer(
    body: dict[str, Any],
    model: str,
    headers: Any,
    send_json: Callable[[int, Any], None],
    send_stream: Callable[[Frames], None],
) -> None:
    """Answer one ``POST /v1/messages`` through the server's senders."""
    message = plan_message(body, model)
    if isinstance(message, str):
        send_json(400, error_body(400, message))
    elif not body.get("stream"):
        send_json(200, message)
    else:
        after = headers.get("x-stream-error-after")
        send_stream(stream_frames(message, int(after) if after else None))
