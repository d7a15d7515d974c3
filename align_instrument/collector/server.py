"""The collector's HTTP server: the Align ingestion endpoint plus the web pages.

``POST /ingestion.v1alpha.IngestionService/CollectEvents`` speaks Connect unary, like Align:
``application/json`` (optionally ``Content-Encoding: gzip``) and ``application/proto``. Errors
are Connect error bodies ``{"code": ..., "message": ...}``:

=====================  ======  ===========================================================
problem                status  Connect code
=====================  ======  ===========================================================
wrong bearer token     401     ``unauthenticated``
bad event / body       400     ``invalid_argument`` (names the event index and the field)
body too large         413     ``resource_exhausted`` (after gzip decompression, capped)
wrong content type     415     ``unimplemented`` (Connect's code for an unsupported codec)
unknown encoding       501     ``unimplemented``
unknown route          404     ``unimplemented`` (Connect maps HTTP 404 to it)
wrong method           405     ``unimplemented``
unexpected failure     500     ``internal`` (logged; the server keeps serving)
=====================  ======  ===========================================================

Nothing of a rejected request is stored. The server is a stdlib ``ThreadingHTTPServer``
(a thread per connection, keep-alive), so it needs no dependency beyond the package's own.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import shutil
import socket
import sqlite3
import tempfile
import threading
import zlib
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..wire import COLLECT_EVENTS_PATH
from . import pages
from .protobuf import ProtobufDecodeError, decode_collect_events_request
from .store import IngestResult, Store
from .validation import InvalidRequest, check_request

logger = logging.getLogger("align_instrument.collector")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_POLL_SECONDS = 3.0
# Beyond this the body of a refused request is not read to the end; the connection is closed instead.
_DRAIN_LIMIT_BYTES = 256 * 1024 * 1024
_IDLE_TIMEOUT_SECONDS = 120

_PHRASES = {s.value: s.phrase for s in HTTPStatus}
JSON_TYPES = frozenset({"application/json"})
PROTO_TYPES = frozenset({"application/proto", "application/protobuf", "application/x-protobuf"})


class ConnectError(Exception):
    """A request refused with a Connect error body."""

    def __init__(self, status: int, code: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.close = close


class CollectorServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that owns a :class:`Store` and the collector's settings.

    Args:
        address: ``(host, port)``; port 0 picks a free port.
        store: where accepted events go.
        api_key: when set, ingestion requires ``Authorization: Bearer <api_key>``.
        max_body_bytes: the largest accepted body, after gzip decompression.
        poll_seconds: how often open pages ask whether something new arrived.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        api_key: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.api_key = api_key or None
        self.loopback_only = _is_loopback_ip(address[0]) or address[0] == "localhost"
        self.max_body_bytes = max_body_bytes
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, CollectorHandler)

    def __repr__(self) -> str:  # never show the key
        host, port = self.server_address[:2]
        return f"CollectorServer(host={host!r}, port={port!r}, auth={'on' if self.api_key else 'off'})"

    def track(self, conn: socket.socket, active: bool) -> None:
        """Remember open connections so that :meth:`close_connections` can end idle keep-alives."""
        with self._connections_lock:
            if active:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut down every open client connection (their threads then end)."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class CollectorHandler(BaseHTTPRequestHandler):
    """Routes one connection's requests: the ingestion RPC and the pages."""

    server: CollectorServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on they stall on delayed ACKs (40 ms).
    disable_nagle_algorithm = True
    server_version = "align-instrument-collector"
    sys_version = ""
    wbufsize = 64 * 1024  # headers and body leave in one write (flushed after each request)
    timeout = _IDLE_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # --- routing ---------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._guard(self._post)

    def do_GET(self) -> None:
        self._guard(self._get)

    def do_HEAD(self) -> None:
        self._guard(self._get)

    def _other(self) -> None:
        self._guard(self._method_not_allowed)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other

    def _guard(self, handler: Callable[[], None]) -> None:
        try:
            self._check_host()
            handler()
        except ConnectError as exc:
            self._send_error(exc)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except sqlite3.OperationalError as exc:
            # Locked by another process, disk full: transient from the client's point of view.
            logger.warning("collector: database unavailable on %s %s: %s", self.command, self.path, exc)
            self.close_connection = True
            self._send_error(ConnectError(503, "unavailable", f"database unavailable ({exc}); retry later"))
        except Exception:
            logger.exception("collector: internal error on %s %s", self.command, self.path)
            # The body may be unread: this connection cannot carry another request.
            self.close_connection = True
            self._send_error(ConnectError(500, "internal", "internal error in the collector (see its log)"))

    def _check_host(self) -> None:
        """On a loopback bind, only loopback Host names: a web page that rebinds its own domain
        name to 127.0.0.1 (DNS rebinding) must not read the transcripts or write events."""
        if not self.server.loopback_only:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        if not host:  # HTTP/1.0 without Host: not what a browser sends
            return
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        if name == "localhost" or name.endswith(".localhost") or _is_loopback_ip(name):
            return
        self._discard_body()
        raise ConnectError(
            403, "permission_denied", f"Host {host!r} is not a loopback name; use http://127.0.0.1:PORT"
        )

    def _method_not_allowed(self) -> None:
        self._discard_body()
        raise ConnectError(405, "unimplemented", f"{self.command} is not supported here")

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path != COLLECT_EVENTS_PATH:
            self._discard_body()
            raise ConnectError(404, "unimplemented", f"no procedure at {path}; use {COLLECT_EVENTS_PATH}")
        self._check_auth()
        encoding = self._codec()
        body = self._read_body()
        result = self._collect(body, encoding)
        if result.duplicate_request:
            logger.info("collector: request already stored (a retry); nothing new")
        else:
            logger.info(
                "collector: stored %d event(s)%s (%s)",
                result.stored,
                f", skipped {result.duplicate_events} already stored" if result.duplicate_events else "",
                encoding,
            )
        if encoding == "proto":
            self._send(200, b"", "application/proto")
        else:
            self._send(200, b"{}", "application/json")

    def _get(self) -> None:
        url = urlsplit(self.path)
        if url.path == COLLECT_EVENTS_PATH:
            raise ConnectError(405, "unimplemented", "CollectEvents accepts POST only")
        if url.path == "/healthz":
            self._send(200, b'{"status":"ok"}', "application/json")
            return
        if url.path == "/api/version":
            # Polled by every open page: a few bytes, one indexed read.
            version = {"version": self.server.store.version(), "poll_seconds": self.server.poll_seconds}
            self._send(200, json.dumps(version).encode(), "application/json")
            return
        if url.path == "/static/live.js":
            self._send(200, pages.LIVE_JS.encode("utf-8"), "text/javascript; charset=utf-8")
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        page = pages.render(self.server.store, url.path, query)
        if query.get("partial") == "1":
            live: dict[str, Any] = {
                "version": page.version,
                "regions": page.regions,
                "messages": page.messages,
            }
            self._send(page.status, json.dumps(live, ensure_ascii=False).encode("utf-8"), "application/json")
            return
        self._send(page.status, page.html.encode("utf-8"), "text/html; charset=utf-8")

    # --- ingestion -------------------------------------------------------------------------------------

    def _check_auth(self) -> None:
        expected = self.server.api_key
        if expected is None:
            return
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            self._discard_body()
            raise ConnectError(401, "unauthenticated", "missing API key: send Authorization: Bearer <key>")
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            self._discard_body()
            raise ConnectError(401, "unauthenticated", "invalid API key")

    def _codec(self) -> str:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type in JSON_TYPES:
            version = self.headers.get("Connect-Protocol-Version")
            if version is not None and version.strip() != "1":
                self._discard_body()
                raise ConnectError(
                    400, "invalid_argument", f"Connect-Protocol-Version must be 1 (got {version!r})"
                )
            return "json"
        if content_type in PROTO_TYPES:
            return "proto"
        self._discard_body()
        shown = content_type or "(none)"
        raise ConnectError(
            415,
            "unimplemented",
            f"content type {shown!r} is not supported:"
            " send application/json (Connect JSON) or application/proto",
        )

    def _read_body(self) -> bytes:
        limit = self.server.max_body_bytes
        content_encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if content_encoding not in ("identity", "gzip"):
            self._discard_body()
            raise ConnectError(
                501,
                "unimplemented",
                f"Content-Encoding {content_encoding!r} is not supported (use gzip or none)",
            )
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = self._read_chunked(limit)
        else:
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                self.close_connection = True
                raise ConnectError(
                    411, "invalid_argument", "Content-Length (or chunked encoding) is required"
                )
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError
            except ValueError:
                self.close_connection = True
                raise ConnectError(400, "invalid_argument", f"bad Content-Length {length_header!r}") from None
            if length > limit:
                self._discard(length)
                raise ConnectError(413, "resource_exhausted", _too_large(limit))
            raw = self.rfile.read(length)
            if len(raw) < length:
                self.close_connection = True
                raise ConnectError(400, "invalid_argument", "request body ended before Content-Length")
        if content_encoding == "gzip":
            return _gunzip(raw, limit)
        return raw

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ConnectError(400, "invalid_argument", "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise ConnectError(413, "resource_exhausted", _too_large(limit), close=True)
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)

    def _collect(self, body: bytes, encoding: str) -> IngestResult:
        try:
            text = ""
            if encoding == "proto":
                doc: Any = decode_collect_events_request(body)
                request = check_request(doc)
            else:
                text = _utf8(body)
                try:
                    doc = json.loads(text, parse_constant=_reject_constant)
                except (ValueError, RecursionError) as exc:
                    raise InvalidRequest(f"malformed JSON body: {exc}") from None
                request = check_request(doc, body_text=text)
        except (InvalidRequest, ProtobufDecodeError) as exc:
            raise ConnectError(400, "invalid_argument", str(exc)) from None
        except RecursionError:
            raise ConnectError(400, "invalid_argument", "request body nested too deeply") from None
        # A JSON body is stored as received; a binary one as its proto3 JSON form.
        body_text = text if encoding == "json" else None
        result = self.server.store.ingest(request.request_id, request.events, encoding, body=body_text)
        return result

    # --- responses -------------------------------------------------------------------------------------

    def _discard_body(self) -> None:
        """Read a refused request's body so that the client sees the answer, not a reset connection."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return
        self._discard(length)

    def _discard(self, length: int) -> None:
        if length > _DRAIN_LIMIT_BYTES:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def _send_error(self, exc: ConnectError) -> None:
        try:
            self._send_connect_error(exc)
        except OSError:  # the client went away; nothing to answer
            self.close_connection = True

    def _send_connect_error(self, exc: ConnectError) -> None:
        if exc.close:
            self.close_connection = True
        body = json.dumps({"code": exc.code, "message": exc.message}, ensure_ascii=False).encode("utf-8")
        if exc.status >= 500 or exc.status in (401, 413, 415):
            logger.info(
                "collector: %s %s -> %d %s: %s", self.command, self.path, exc.status, exc.code, exc.message
            )
        else:
            logger.info("collector: refused %s: %s", self.path, exc.message)
        self._send(exc.status, body, "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(
            status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else None
        )
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if content_type.startswith("text/html"):
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'self';"
                " connect-src 'self'; form-action 'self'",
            )
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _is_loopback_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid UTF-8 (byte offset {exc.start}: {exc.reason})"
        ) from None


def _reject_constant(name: str) -> Any:
    raise InvalidRequest(f"malformed JSON body: {name} is not a JSON value")


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes (after decompression); send smaller batches"


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (possibly several members) without ever holding more than ``limit`` bytes."""
    out = bytearray()
    rest = data
    while True:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(rest, limit + 1 - len(out))
            while decompressor.unconsumed_tail and len(out) <= limit:
                out += decompressor.decompress(decompressor.unconsumed_tail, limit + 1 - len(out))
        except zlib.error as exc:
            raise ConnectError(400, "invalid_argument", f"request body is not valid gzip ({exc})") from None
        if len(out) > limit:
            raise ConnectError(413, "resource_exhausted", _too_large(limit))
        if not decompressor.eof:
            raise ConnectError(400, "invalid_argument", "request body is truncated gzip")
        rest = decompressor.unused_data
        if not rest.strip(b"\x00"):
            return bytes(out)


class RunningCollector:
    """A collector serving from a daemon thread; see :func:`start_collector`.

    Attributes:
        url: ``http://HOST:PORT``, what an SDK's host should be.
        port: the bound port.
        store: the collector's :class:`~align_instrument.collector.store.Store`.
        server: the underlying :class:`CollectorServer`.
    """

    def __init__(
        self, server: CollectorServer, thread: threading.Thread, owns_store: bool, temp_dir: str | None = None
    ) -> None:
        self.server = server
        self.store = server.store
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        shown_host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown_host}:{self.port}"
        self._thread = thread
        self._owns_store = owns_store
        self._temp_dir = temp_dir
        self._stopped = False

    def __repr__(self) -> str:
        return f"RunningCollector(url={self.url!r}, db={str(self.store.path)!r})"

    def stop(self) -> None:
        """Stop serving, close open connections and (if it opened it) the store. Idempotent.

        Example:
            >>> collector = start_collector(db_path="align.db")
            >>> collector.stop()
        """
        if self._stopped:
            return
        self._stopped = True
        # serve_forever() notices shutdown only between polls; a connection wakes it at once.
        stopper = threading.Thread(target=self.server.shutdown, daemon=True)
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1):
                pass
            stopper.join(0.05)
        self.server.server_close()
        self.server.close_connections()
        self._thread.join(timeout=5)
        if self._owns_store:
            self.store.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> RunningCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_collector(
    host: str = "127.0.0.1",
    port: int = 0,
    db_path: str | Path | None = None,
    api_key: str | None = None,
    *,
    store: Store | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
) -> RunningCollector:
    """Start a collector in this process, serving from a daemon thread.

    Args:
        host: address to bind; loopback by default.
        port: port to bind; 0 picks a free one (see ``.port`` / ``.url``).
        db_path: the SQLite file (created when missing); None: a new file in a temporary
            directory, deleted by ``stop()``. Ignored when ``store`` is given.
        api_key: when set, ingestion requires ``Authorization: Bearer <api_key>``.
        store: an already open :class:`Store` to use (it is then not closed by ``stop()``).
        max_body_bytes: the largest accepted request body, after decompression.
        poll_seconds: how often open web pages ask for new events (live updates).

    Returns:
        A :class:`RunningCollector` with ``.url``, ``.port``, ``.store`` and ``.stop()``; also a
        context manager.

    Example:
        >>> with start_collector(db_path="/tmp/align.db") as collector:
        ...     client = AlignClient(host=collector.url)
        ...     client.open_session("s-1", "u-1")
        ...     client.close()
        ...     collector.store.session("s-1").user_id
        'u-1'
    """
    temp_dir = None
    if store is None:
        if db_path is None:
            temp_dir = tempfile.mkdtemp(prefix="align-collector-")
            db_path = Path(temp_dir) / "collector.db"
        the_store = Store(db_path)
    else:
        the_store = store
    try:
        server = CollectorServer(
            (host, port), the_store, api_key=api_key, max_body_bytes=max_body_bytes, poll_seconds=poll_seconds
        )
    except BaseException:
        if store is None:
            the_store.close()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="align-collector", daemon=True
    )
    thread.start()
    return RunningCollector(server, thread, store is None, temp_dir)
