"""An ingestion endpoint for the benchmarks, run in its own process so its CPU is not counted.

Accepts Connect JSON (ours) and binary protobuf (the official SDK), counts events and duplicate
contents. ``GET /stats`` returns the counts; ``POST /mode/ok`` and ``POST /mode/outage`` switch
between answering 200 and 503; ``POST /reset`` clears the counts.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    from alignai.proto.ingestion.v1alpha.ingestion_pb2 import CollectEventsRequest
except ImportError:  # pragma: no cover - only the official SDK's runs need it
    CollectEventsRequest = None

lock = threading.Lock()
state: dict[str, Any] = {"events": 0, "duplicates": 0, "requests": 0, "outage": False, "seen": set()}


def count(contents: list[str]) -> None:
    with lock:
        state["requests"] += 1
        state["events"] += len(contents)
        seen = state["seen"]
        for c in contents:
            if c in seen:
                state["duplicates"] += 1
            seen.add(c)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # Headers and body in one write: two small writes meet the peer's delayed ACK (40 ms stalls).
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def do_GET(self) -> None:
        with lock:
            payload = {k: v for k, v in state.items() if k != "seen"}
        self.reply(200, json.dumps(payload).encode())

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/mode/"):
            state["outage"] = self.path == "/mode/outage"
            return self.reply(200, b"{}")
        if self.path == "/reset":
            with lock:
                state.update(events=0, duplicates=0, requests=0, seen=set())
            return self.reply(200, b"{}")
        if state["outage"]:
            return self.reply(503, b'{"code":"unavailable","message":"outage"}')
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        if self.headers.get("Content-Type") == "application/proto":
            request = CollectEventsRequest()
            request.ParseFromString(raw)
            count([e.properties.message_properties.message_content or e.id for e in request.events])
            return self.reply(200, b"", "application/proto")
        body = json.loads(raw)
        count(
            [
                e["properties"].get("messageProperties", {}).get("messageContent", e["id"])
                for e in body["events"]
            ]
        )
        return self.reply(200, b"{}")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
