"""A small OpenAI-compatible HTTP server on loopback, for offline demos and for tests.

Replies are deterministic and derived from the input ("You said: <last user text>"), with token
usage, so a real ``openai`` / ``langchain-openai`` client can talk to it without a network or a key.

Endpoints (under ``/v1``):

- ``POST /chat/completions``: JSON, or SSE when ``stream: true`` (one chunk per word, a final
  ``finish_reason`` chunk, a usage chunk when ``stream_options.include_usage``, then ``data: [DONE]``).
  ``response_format`` with a JSON schema gets a JSON object that fits it (for ``.parse()``);
  a ``seed`` is appended as " (take <seed>)", so a regenerated turn can differ.
  Tool calls: when ``tools`` are given and the last message is a user message mentioning
  "weather" (or the model name contains ``tool``), the reply is a call of the first tool with its
  string parameters filled in; after a ``tool`` message, the reply is text about the result.
- ``POST /responses``: a ``Response`` object, or the SSE event sequence that the SDK's
  ``responses.stream()`` accumulates (``response.created`` ... ``response.completed``);
  ``previous_response_id`` and ``conversation`` are echoed.
- ``POST /messages``: Anthropic's Messages API, JSON and SSE (see :mod:`align_instrument._anthropic_api`).
- ``GET /models``.

Fault injection, by model name or by request header (headers win):

- model ``error-400`` / ``error-429`` / ``error-500`` (any ``error-<status>``), or header
  ``x-fault-status: <status>``: answer that status with an OpenAI-style error body (use
  ``max_retries=0`` on the client to see 429/5xx at once);
- model ``slow-<ms>`` or header ``x-delay-ms: <ms>``: wait that long before each stream chunk
  (and once before a JSON reply);
- model ``cut-<n>`` or header ``x-cut-after: <n>``: send ``n`` stream chunks, then drop the
  connection inside the next one (the client sees a protocol error);
- model ``drop-<n>`` or header ``x-drop-after: <n>``: stream without chunked encoding (the body
  ends when the connection does, as HTTP/1.0 servers and some proxies send it), send ``n`` frames,
  then close the connection between two frames: to the client the stream just ends, without a
  finish reason or ``[DONE]``.

``n`` (chat completions) answers that many choices: choice 0 says "You said: ...", choice ``i``
adds " (choice <i+1>)"; streamed, their chunks are interleaved, each naming its ``index``.

Example:
    >>> with start_local_llm() as llm:
    ...     client = OpenAI(base_url=llm.base_url, api_key="local")
    ...     client.chat.completions.create(model="local", messages=[{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from . import _anthropic_api

__all__ = ["RunningLLM", "respond", "start_local_llm"]

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):08d}"


def _tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _text_of(content: Any) -> str:
    """The text of a chat/responses content value: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    parts.append(value)
                elif part.get("type") in ("image_url", "input_image"):
                    parts.append("[image]")
        return " ".join(parts)
    return ""


def _word_chunks(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _fill_schema(schema: dict[str, Any], text: str) -> Any:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: _fill_schema(sub if isinstance(sub, dict) else {}, text) for name, sub in props.items()}
    if kind == "integer":
        return len(text)
    if kind == "number":
        return float(len(text))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if schema.get("enum"):
        return schema["enum"][0]
    return text


def _tool_arguments(tool: dict[str, Any], user_text: str) -> str:
    function = tool.get("function", tool)
    params = function.get("parameters") or {}
    value = user_text.rsplit(" in ", 1)[-1].strip(" ?.!") if " in " in user_text else user_text
    args = {}
    for name, sub in (params.get("properties") or {}).items():
        args[name] = _fill_schema(sub if isinstance(sub, dict) else {}, value)
    return json.dumps(args)


class _Plan:
    """What to answer for one request."""

    def __init__(self, headers: Any, model: str) -> None:
        self.status = 200
        self.delay = 0.0
        self.cut_after: int | None = None
        self.drop_after: int | None = None
        if model.startswith("error-"):
            self.status = int(model.split("-", 1)[1] or 500)
        elif model.startswith("slow-"):
            self.delay = int(model.split("-", 1)[1] or 0) / 1000
        elif model.startswith("cut-"):
            self.cut_after = int(model.split("-", 1)[1] or 0)
        elif model.startswith("drop-"):
            self.drop_after = int(model.split("-", 1)[1] or 0)
        if headers.get("x-fault-status"):
            self.status = int(headers["x-fault-status"])
        if headers.get("x-delay-ms"):
            self.delay = int(headers["x-delay-ms"]) / 1000
        if headers.get("x-cut-after"):
            self.cut_after = int(headers["x-cut-after"])
        if headers.get("x-drop-after"):
            self.drop_after = int(headers["x-drop-after"])


def _sse_frame(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


class _Responder:
    """The answers, independent of how they are sent (over HTTP, or in-process by :func:`respond`)."""

    def _json(self, status: int, body: Any) -> None:
        raise NotImplementedError

    def _stream(self, plan: _Plan, frames: list[tuple[str | None, Any]]) -> None:
        raise NotImplementedError

    def _error(self, status: int, message: str) -> None:
        kinds = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit",
        }
        error = {"message": message, "type": kinds.get(status, "server_error"), "param": None, "code": None}
        self._json(status, {"error": error})

    def _route(self, path: str, body: dict[str, Any], headers: Any) -> None:
        path = path.split("?", 1)[0].rstrip("/")
        model = str(body.get("model") or "local")
        plan = _Plan(headers, model)
        if path.endswith("/messages"):  # Anthropic's API: its own error body and event stream
            self._anthropic_messages(body, model, plan, headers)
        elif plan.status != 200:
            self._error(plan.status, f"injected fault {plan.status} for model {model!r}")
        elif path.endswith("/chat/completions"):
            self._chat(body, model, plan)
        elif path.endswith("/responses"):
            self._responses(body, model, plan)
        else:
            self._error(404, f"unknown route {path}")

    def _anthropic_messages(self, body: dict[str, Any], model: str, plan: _Plan, headers: Any) -> None:
        if plan.status != 200:
            self._json(plan.status, _anthropic_api.error_body(plan.status, f"injected fault {plan.status}"))
            return

        def send_json(status: int, data: Any) -> None:
            if plan.delay:
                time.sleep(plan.delay)
            self._json(status, data)

        _anthropic_api.answer(body, model, headers, send_json, lambda frames: self._stream(plan, frames))

    # --- chat completions ------------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any], model: str, plan: _Plan) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._error(400, "messages must be a non-empty list")
            return
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        user_texts = [
            _text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"
        ]
        last_user = user_texts[-1] if user_texts else ""
        prompt_tokens = sum(_tokens(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))
        tools = body.get("tools") or []
        tool_call: dict[str, Any] | None = None
        text: str | None
        if tools and last.get("role") == "user" and ("weather" in last_user.lower() or "tool" in model):
            tool = tools[0]
            name = (tool.get("function") or {}).get("name", "tool")
            call_id = "call_" + hashlib.sha1(f"{len(messages)}:{last_user}".encode()).hexdigest()[:16]
            tool_call = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": _tool_arguments(tool, last_user)},
            }
            text = None
        elif last.get("role") == "tool":
            text = f"Based on the tool result: {_text_of(last.get('content'))}"
        else:
            text = f"You said: {last_user}" if last_user else "Hello!"
            if body.get("seed") is not None:
                text += f" (take {body['seed']})"
            response_format = body.get("response_format") or {}
            if response_format.get("type") == "json_schema":
                schema = (response_format.get("json_schema") or {}).get("schema") or {}
                text = json.dumps(_fill_schema(schema, text))
            elif response_format.get("type") == "json_object":
                text = json.dumps({"reply": text})
        choices = int(body.get("n") or 1)
        texts = [text] + [f"{text} (choice {i + 1})" if text else text for i in range(1, choices)]
        completion_tokens = sum(_tokens(t or "") for t in texts) + (3 if tool_call else 0)
        finish = "tool_calls" if tool_call else "stop"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid, created = _next_id("chatcmpl-"), int(time.time())
        if not body.get("stream"):
            if plan.delay:
                time.sleep(plan.delay)
            messages_out: list[dict[str, Any]] = []
            for choice_text in texts:
                message: dict[str, Any] = {"role": "assistant", "content": choice_text, "refusal": None}
                if tool_call:
                    message["tool_calls"] = [tool_call]
                messages_out.append(message)
            self._json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": i, "message": m, "logprobs": None, "finish_reason": finish}
                        for i, m in enumerate(messages_out)
                    ],
                    "usage": usage,
                    "system_fingerprint": "local",
                },
            )
            return

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }

        frames: list[tuple[str | None, Any]] = []
        for i in range(choices):
            frames.append((None, chunk({"role": "assistant", "content": ""}, index=i)))
            if tool_call:
                frames.append((None, chunk({"tool_calls": [{"index": 0, **tool_call}]}, index=i)))
        pieces = [_word_chunks(t) if t else [] for t in texts]
        for position in range(max(map(len, pieces))):  # interleaved, as OpenAI sends them
            for i, words in enumerate(pieces):
                if position < len(words):
                    frames.append((None, chunk({"content": words[position]}, index=i)))
        for i in range(choices):
            frames.append((None, chunk({}, finish, index=i)))
        if (body.get("stream_options") or {}).get("include_usage"):
            frames.append(
                (
                    None,
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    },
                )
            )
        frames.append((None, "[DONE]"))
        self._stream(plan, frames)

    # --- responses -------------------------------------------------------------------------------------

    def _responses(self, body: dict[str, Any], model: str, plan: _Plan) -> None:
        raw_input = body.get("input")
        items = [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else (raw_input or [])
        if not isinstance(items, list):
            self._error(400, "input must be a string or a list")
            return
        user_texts = [
            _text_of(i.get("content"))
            for i in items
            if isinstance(i, dict) and i.get("role", "user") == "user" and "content" in i
        ]
        last_user = user_texts[-1] if user_texts else ""
        text = f"You said: {last_user}" if last_user else "Hello!"
        text_format = ((body.get("text") or {}).get("format")) or {}
        if text_format.get("type") == "json_schema":
            text = json.dumps(_fill_schema(text_format.get("schema") or {}, text))
        input_tokens = sum(
            _tokens(_text_of(i.get("content"))) for i in items if isinstance(i, dict)
        ) + _tokens(str(body.get("instructions") or ""))
        output_tokens = _tokens(text)
        conversation = body.get("conversation")
        if isinstance(conversation, str):
            conversation = {"id": conversation}
        rid, mid = _next_id("resp_"), _next_id("msg_")
        part_done = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item_done = {
            "id": mid,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part_done],
        }

        def response(status: str, output: list[Any]) -> dict[str, Any]:
            return {
                "id": rid,
                "object": "response",
                "created_at": time.time(),
                "status": status,
                "model": model,
                "output": output,
                "instructions": body.get("instructions"),
                "previous_response_id": body.get("previous_response_id"),
                "conversation": conversation,
                "metadata": body.get("metadata") or {},
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "temperature": 1.0,
                "top_p": 1.0,
                "error": None,
                "incomplete_details": None,
                "text": {"format": text_format or {"type": "text"}},
                "usage": {
                    "input_tokens": input_tokens,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": output_tokens,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": input_tokens + output_tokens,
                }
                if status == "completed"
                else None,
            }

        if not body.get("stream"):
            if plan.delay:
                time.sleep(plan.delay)
            self._json(200, response("completed", [item_done]))
            return
        seq = itertools.count()
        frames: list[tuple[str | None, Any]] = []

        def event(kind: str, **fields: Any) -> None:
            frames.append((kind, {"type": kind, "sequence_number": next(seq), **fields}))

        where = {"item_id": mid, "output_index": 0, "content_index": 0}
        event("response.created", response=response("in_progress", []))
        event("response.in_progress", response=response("in_progress", []))
        event(
            "response.output_item.added",
            output_index=0,
            item={"id": mid, "type": "message", "status": "in_progress", "role": "assistant", "content": []},
        )
        event(
            "response.content_part.added",
            part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            **where,
        )
        for piece in _word_chunks(text):
            event("response.output_text.delta", delta=piece, logprobs=[], **where)
        event("response.output_text.done", text=text, logprobs=[], **where)
        event("response.content_part.done", part=part_done, **where)
        event("response.output_item.done", output_index=0, item=item_done)
        event("response.completed", response=response("completed", [item_done]))
        self._stream(plan, frames)


class _Handler(_Responder, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on they stall on delayed ACKs (40 ms).
    disable_nagle_algorithm = True
    server_version = "align-local-llm/1"

    def setup(self) -> None:
        super().setup()
        # Small SSE frames must leave at once (Nagle + delayed ACK would add milliseconds per frame).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    # --- plumbing -------------------------------------------------------------------------------------

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", _next_id("req_"))
        self.end_headers()
        self.wfile.write(data)

    def _start_sse(self, chunked: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:  # the body ends when the connection does
            self.send_header("Connection", "close")
        self.send_header("x-request-id", _next_id("req_"))
        self.end_headers()

    @staticmethod
    def _sse(data: Any, event: str | None = None) -> bytes:
        """One SSE frame as an HTTP/1.1 chunk."""
        frame = _sse_frame(data, event)
        return b"%x\r\n%s\r\n" % (len(frame), frame)

    def _stream(self, plan: _Plan, frames: list[tuple[str | None, Any]]) -> None:
        if plan.drop_after is not None:
            self._start_sse(chunked=False)
            self.wfile.write(b"".join(_sse_frame(data, event) for event, data in frames[: plan.drop_after]))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._start_sse()
        # Without an injected delay, frames go out in one write: the client still parses them one
        # by one, and the benchmark is not dominated by one context switch per frame.
        pending: list[bytes] = []
        try:
            for sent, (event, data) in enumerate(frames):
                if plan.cut_after is not None and sent >= plan.cut_after:
                    # Drop the connection inside a chunk: the client sees a protocol error mid-stream.
                    self.wfile.write(b"".join([*pending, b"400\r\ndata: {"]))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                pending.append(self._sse(data, event))
                if plan.delay:
                    time.sleep(plan.delay)
                    self.wfile.write(pending.pop())
            pending.append(b"0\r\n\r\n")
            self.wfile.write(b"".join(pending))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (abandoned stream)

    def _read_body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "body is not JSON")
            return None
        if not isinstance(body, dict):
            self._error(400, "body must be a JSON object")
            return None
        return body

    # --- routes -----------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(
                200,
                {
                    "object": "list",
                    "data": [{"id": "local", "object": "model", "created": 0, "owned_by": "local"}],
                },
            )
        else:
            self._error(404, f"unknown route {self.path}")

    def do_POST(self) -> None:
        body = self._read_body()
        if body is not None:
            self._route(self.path, body, self.headers)


class _InProcess(_Responder):
    def __init__(self) -> None:
        self.status = 200
        self.content_type = "application/json"
        self.body = b""

    def _json(self, status: int, body: Any) -> None:
        self.status, self.body = status, json.dumps(body).encode()

    def _stream(self, plan: _Plan, frames: list[tuple[str | None, Any]]) -> None:
        self.content_type = "text/event-stream"
        cut = plan.cut_after if plan.drop_after is None else plan.drop_after
        end = len(frames) if cut is None else min(cut, len(frames))
        self.body = b"".join(_sse_frame(data, event) for event, data in frames[:end])


def respond(path: str, body: bytes, headers: Mapping[str, str] | None = None) -> tuple[int, str, bytes]:
    """Answer one ``POST`` in-process, exactly as the server would (a stream as its whole SSE body;
    delays are not applied, a cut stream is truncated).

    For benchmarks that must exclude network and server scheduling noise, e.g. as the handler of
    an ``httpx.MockTransport`` given to the OpenAI client.

    Args:
        path: the request path, e.g. ``/v1/chat/completions``.
        body: the JSON request body.
        headers: request headers (for the fault-injection headers).

    Returns:
        ``(status, content_type, body)``.

    Example:
        >>> status, kind, data = respond("/v1/chat/completions", b'{"messages": []}')
    """
    responder = _InProcess()
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        responder._route(path, parsed, {k.lower(): v for k, v in (headers or {}).items()})
    else:
        responder._error(400, "body must be a JSON object")
    return responder.status, responder.content_type, responder.body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (abandoned streams, closed keep-alive connections) are normal here.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class RunningLLM:
    """A running local LLM server. Stop it with :meth:`stop` or use it as a context manager.

    Attributes:
        base_url: e.g. ``http://127.0.0.1:54321/v1`` (pass as the OpenAI client's ``base_url``).
        anthropic_base_url: e.g. ``http://127.0.0.1:54321`` (the Anthropic client's ``base_url``).
        port: the port it listens on.
    """

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.port: int = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.anthropic_base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"RunningLLM(base_url={self.base_url!r})"

    def stop(self) -> None:
        """Stop serving and release the port (idempotent).

        Example:
            >>> llm.stop()
        """
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(2)
        self._server.server_close()

    def __enter__(self) -> RunningLLM:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_local_llm(port: int = 0) -> RunningLLM:
    """Start the local OpenAI-compatible server on ``127.0.0.1`` in a daemon thread.

    Args:
        port: the port to listen on; 0 picks a free one.

    Returns:
        The running server (``.base_url``, ``.stop()``; a context manager).

    Raises:
        OSError: the port cannot be bound.

    Example:
        >>> llm = start_local_llm()
        >>> OpenAI(base_url=llm.base_url, api_key="local").models.list()
        >>> llm.stop()
    """
    return RunningLLM(_Server(("127.0.0.1", port), _Handler))


if __name__ == "__main__":  # `python -m align_instrument.local_llm [--port N]` is `align-instrument llm`
    from align_instrument.cli import main

    sys.exit(main(["llm", *sys.argv[1:]]))
