"""A real HTTP ingestion endpoint on loopback whose failures the tests script.

It speaks enough of the Align API to accept batches (200 ``{}``), records every request it
received (decoded, gunzipped), and answers from a script of faults first: a status (with an
optional ``Retry-After``), a dropped connection, or a slow answer. An event whose message content
contains ``BAD_EVENT`` makes the whole request a 400, as a strict server would.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BAD_MARKER = "BAD_EVENT"


@dataclass
class Fault:
    status: int = 200
    retry_after: str | None = None
    drop_connection: bool = False
    delay: float = 0.0


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    raw_size: int
    status: int
    client_port: int
    at: float


@dataclass
class FaultServer:
    """Start with ``with FaultServer() as server:``; ``server.url`` is its host URL."""

    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    default_delay: float = 0.0
    always_status: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with outer._lock:
                    fault = outer.faults.popleft() if outer.faults else Fault(delay=outer.default_delay)
                    if outer.always_status is not None:
                        fault = Fault(status=outer.always_status)
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.drop_connection:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                body = json.loads(data)
                status = fault.status
                if status == 200 and any(
                    BAD_MARKER in e["properties"].get("messageProperties", {}).get("messageContent", "")
                    for e in body["events"]
                ):
                    status = 400
                with outer._lock:
                    outer.requests.append(
                        Received(
                            dict(self.headers),
                            body,
                            len(raw),
                            status,
                            self.client_address[1],
                            time.monotonic(),
                        )
                    )
                if status == 200:
                    payload = b"{}"
                else:
                    code = {400: "invalid_argument", 429: "resource_exhausted", 401: "unauthenticated"}.get(
                        status, "internal"
                    )
                    payload = json.dumps({"code": code, "message": f"scripted {status}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if fault.retry_after is not None:
                    self.send_header("Retry-After", fault.retry_after)
                # One write for headers and body: two small writes meet delayed ACKs (40 ms stalls).
                self._headers_buffer.append(b"\r\n" + payload)
                self.flush_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def delivered(self) -> list[dict[str, Any]]:
        """Events of the requests that were answered 200, in arrival order."""
        with self._lock:
            return [e for r in self.requests if r.status == 200 for e in r.body["events"]]

    def delivered_contents(self) -> list[str]:
        return [
            e["properties"]["messageProperties"]["messageContent"]
            for e in self.delivered()
            if e["type"] == "message_create"
        ]
