"""The collector's ingestion endpoint, over real HTTP on loopback."""

from __future__ import annotations

import gzip
import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from collector_helpers import (
    JSON_HEADERS,
    conversation,
    event,
    identify,
    message,
    message_feedback,
    post,
    request_body,
    session_close,
    session_feedback,
    session_open,
)

import align_instrument as align
from align_instrument.collector import RunningCollector, Store, start_collector
from align_instrument.wire import COLLECT_EVENTS_PATH


def _error(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message"}
    return body


# --- accepted requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gzip_body", [False, True], ids=["plain", "gzip"])
def test_connect_json_request_is_stored_and_answered_with_empty_message(
    collector: RunningCollector, gzip_body: bool
) -> None:
    response = post(collector.url, request_body(conversation()), gzip_body=gzip_body)
    assert response.status_code == 200
    assert response.json() == {}
    session = collector.store.session("s1")
    assert session is not None
    assert [m.content for m in session.messages] == [
        "Hi",
        "Hello! How can I help?",
        "Reset my password",
        "Go to Settings.",
    ]
    assert session.user_id == "u1" and session.assistant_id == "bot" and session.closed
    assert [f.type for f in session.messages[1].feedback] == ["thumbs_up"]
    assert [f.type for f in session.session_feedback] == ["thumbs_down"]
    assert collector.store.request_count() == 1
    assert len(collector.store.events()) == 9


def test_real_align_client_delivers_to_the_collector(collector: RunningCollector) -> None:
    client = align.AlignClient(host=collector.url)
    client.identify_user("u-7", display_name="Grace", ip="10.0.0.1", country_code="US")
    client.open_session("s-7", "u-7", assistant_id="helper", custom_properties={"tier": 3})
    client.create_message("s-7", 1, align.ROLE_USER, "What is 2+2?")
    client.create_message("s-7", 2, align.ROLE_ASSISTANT, "4", custom_properties={"latency_ms": 12})
    client.create_message_feedback("s-7", 2, align.FEEDBACK_THUMBS_UP)
    client.create_session_feedback("s-7", align.FEEDBACK_THUMBS_DOWN)
    client.close_session("s-7")
    assert client.close(timeout_seconds=10)
    assert client.stats()["sent"] == 7
    session = collector.store.session("s-7")
    assert session is not None
    assert session.custom_properties == {"tier": "3"}
    assert [(m.index, m.role, m.content) for m in session.messages] == [
        (1, "user", "What is 2+2?"),
        (2, "assistant", "4"),
    ]
    assert session.messages[1].custom_properties == {"latency_ms": "12"}
    assert session.thumbs_up == 1 and session.thumbs_down == 1 and session.closed
    user = collector.store.user("u-7")
    assert user is not None and user.display_name == "Grace" and user.location == "US"


def test_resent_request_id_and_known_event_ids_are_not_stored_twice(collector: RunningCollector) -> None:
    events = conversation()
    body = request_body(events, request_id="batch-1")
    assert post(collector.url, body).status_code == 200
    assert post(collector.url, body, gzip_body=True).status_code == 200  # a retry of the same batch
    # A new batch that repeats two stored events and one event twice.
    extra = message("s1", 5, "user", "one more")
    again = request_body([events[2], events[3], extra, extra], request_id="batch-2")
    assert post(collector.url, again).status_code == 200
    assert collector.store.request_count() == 2
    assert len(collector.store.events()) == len(events) + 1
    session = collector.store.session("s1")
    assert session is not None and session.message_count == 5


def test_proto_field_names_are_accepted_like_camel_case(collector: RunningCollector) -> None:
    doc = {
        "request_id": "r-snake",
        "events": [
            {
                "id": "snake-1",
                "type": "message_create",
                "create_time": "2026-11-26T13:58:08+02:00",
                "project_id": "local",
                "properties": {
                    "message_properties": {
                        "session_id": "s",
                        "message_index_hint": "3",
                        "message_role": 2,
                        "message_content": "hi",
                    },
                    "custom_properties": {"k": {"string_value": "v"}},
                },
            }
        ],
    }
    response = post(collector.url, doc)
    assert response.status_code == 200, response.text
    session = collector.store.session("s")
    assert session is not None
    only = session.messages[0]
    assert (only.index, only.role, only.custom_properties) == (3, "assistant", {"k": "v"})
    expected = datetime(2026, 11, 26, 11, 58, 8, tzinfo=timezone.utc).timestamp()
    assert only.create_time == pytest.approx(expected)


def test_chunked_request_body_is_accepted(collector: RunningCollector) -> None:
    data = json.dumps(request_body(conversation("s-chunked"))).encode()
    chunks = iter([data[:100], data[100:]])
    response = requests.post(
        collector.url + COLLECT_EVENTS_PATH, data=chunks, headers=JSON_HEADERS, timeout=10
    )
    assert response.status_code == 200, response.text
    assert collector.store.session("s-chunked") is not None


# --- rejected events: 400 invalid_argument naming the event and the field ---------------------------------


def _msg(**overrides: Any) -> dict[str, Any]:
    doc = message("s-bad", 1, "user", "fine")
    doc["properties"]["messageProperties"].update(overrides)
    return doc


BAD_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("missing id", {k: v for k, v in message("s", 1).items() if k != "id"}, r"events\[1\]\.id: is required"),
    ("unknown type", {**message("s", 1), "type": "message_delete"}, r"events\[1\]\.type: must be one of"),
    (
        "missing projectId",
        {k: v for k, v in message("s", 1).items() if k != "projectId"},
        r"events\[1\]\.projectId",
    ),
    (
        "bad timestamp",
        {**message("s", 1), "createTime": "yesterday"},
        r"events\[1\]\.createTime: must be an RFC 3339",
    ),
    (
        "impossible date",
        {**message("s", 1), "createTime": "2026-02-30T00:00:00Z"},
        r"createTime: not a valid date",
    ),
    ("unknown event field", {**message("s", 1), "extra": 1}, r"events\[1\]\.extra: unknown field"),
    ("unknown property field", _msg(messageMood="happy"), r"messageProperties\.messageMood: unknown field"),
    (
        "wrong role enum",
        _msg(messageRole="user"),
        r"messageProperties\.messageRole: must be ROLE_USER or ROLE_ASSISTANT",
    ),
    (
        "unspecified role",
        _msg(messageRole="ROLE_UNSPECIFIED"),
        r"messageRole: must be ROLE_USER or ROLE_ASSISTANT",
    ),
    (
        "index zero",
        _msg(messageIndexHint=0),
        r"messageProperties\.messageIndexHint: message_index must be a positive int",
    ),
    ("index bool", _msg(messageIndexHint=True), r"messageIndexHint: message_index must be a positive int"),
    ("index float", _msg(messageIndexHint=1.5), r"messageIndexHint: message_index must be a positive int"),
    ("index over int32", _msg(messageIndexHint=2**31), r"messageIndexHint: message_index must be at most"),
    ("empty content", _msg(messageContent=""), r"messageProperties\.messageContent: content is required"),
    ("content not a string", _msg(messageContent=5), r"messageContent: content must be a string"),
    (
        "session id too long",
        _msg(sessionId="x" * 65),
        r"messageProperties\.sessionId: session_id must be at most 64",
    ),
    (
        "missing session id",
        {
            **message("s", 1),
            "properties": {
                "messageProperties": {
                    "messageIndexHint": 1,
                    "messageRole": "ROLE_USER",
                    "messageContent": "x",
                }
            },
        },
        r"messageProperties\.sessionId: is required",
    ),
    (
        "no properties member",
        {**message("s", 1), "properties": {}},
        r"events\[1\]\.properties: a message_create",
    ),
    (
        "properties of the wrong type",
        {**session_open("s", "u"), "type": "message_create"},
        r"must carry exactly one",
    ),
    ("bad ip", identify("u", ip="999.1.1.1"), r"userProperties\.userIp: ip must be an IPv4 address"),
    ("ipv6 ip", identify("u", ip="::1"), r"userIp: ip must be an IPv4 address"),
    (
        "bad country",
        identify("u", country_code="XX"),
        r"userLocation\.countryCode: country_code must be an ISO 3166-1",
    ),
    ("long email", identify("u", email="a" * 257), r"userEmail: email must be at most 256"),
    (
        "long display name",
        identify("u", display_name="a" * 65),
        r"userDisplayName: display_name must be at most 64",
    ),
    (
        "bad feedback type",
        message_feedback("s", 1, "meh"),
        r"feedbackProperties\.type: feedback_type must be",
    ),
    (
        "bad feedback target",
        {
            **message_feedback("s", 1),
            "properties": {
                "feedbackProperties": {
                    "sessionId": "s",
                    "messageIndexHint": 1,
                    "feedbackTarget": "TARGET_USER",
                    "type": "thumbs_up",
                }
            },
        },
        r"feedbackTarget: must be TARGET_SESSION or TARGET_MESSAGE",
    ),
    (
        "message feedback without index",
        {
            **message_feedback("s", 1),
            "properties": {
                "feedbackProperties": {
                    "sessionId": "s",
                    "feedbackTarget": "TARGET_MESSAGE",
                    "type": "thumbs_up",
                }
            },
        },
        r"messageIndexHint: is required",
    ),
    (
        "session_open without user",
        {**session_open("s", "u"), "properties": {"sessionProperties": {"sessionId": "s"}}},
        r"sessionProperties\.userId: is required",
    ),
    (
        "custom key pattern",
        message("s", 1, custom={"1bad": "v"}),
        r"customProperties: custom_properties key must match",
    ),
    (
        "too many custom properties",
        message("s", 1, custom={f"k{i}": "v" for i in range(11)}),
        r"at most 10 entries",
    ),
    ("custom value too long", message("s", 1, custom={"k": "v" * 257}), r"must be at most 256 characters"),
    (
        "custom value not an object",
        {**message("s", 1), "properties": {**message("s", 1)["properties"], "customProperties": {"k": "v"}}},
        r"customProperties\['k'\]: must be a CustomPropertyValue",
    ),
    ("event not an object", "nope", r"events\[1\]: must be an Event object"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("doc", "pattern"), [(d, p) for _, d, p in BAD_EVENTS], ids=[n for n, _, _ in BAD_EVENTS]
)
def test_bad_event_is_rejected_naming_index_and_field_and_nothing_is_stored(
    collector: RunningCollector, doc: dict[str, Any], pattern: str
) -> None:
    good_before = session_open("s-good", "u-good")
    good_after = message("s-good", 1)
    response = post(collector.url, request_body([good_before, doc, good_after]))
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_argument"
    assert error["message"].startswith("events[1]")
    assert __import__("re").search(pattern, error["message"]), error["message"]
    assert collector.store.events() == []
    assert collector.store.request_count() == 0
    assert collector.store.sessions() == []


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        (b"{not json", r"malformed JSON body"),
        (b"[1, 2]", r"request body must be a JSON object"),
        (b'{"requestId": "r", "events": []}', r"events: is required"),
        (b'{"events": [{}]}', r"requestId: is required"),
        (b'{"requestId": "r", "events": {}}', r"events: must be an array"),
        (b'{"requestId": "r", "events": [], "more": 1}', r"more: unknown field"),
        (b'{"requestId": "r", "events": [NaN]}', r"NaN is not a JSON value"),
        (b'{"requestId": "\xff\xfe", "events": []}', r"not valid UTF-8 \(byte offset 15"),
    ],
    ids=[
        "malformed",
        "array",
        "no events",
        "no request id",
        "events not array",
        "unknown top field",
        "NaN",
        "not utf8",
    ],
)
def test_malformed_bodies_get_invalid_argument(
    collector: RunningCollector, body: bytes, pattern: str
) -> None:
    response = post(collector.url, body)
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_argument"
    assert __import__("re").search(pattern, error["message"]), error["message"]


def test_lone_surrogate_escape_is_rejected_naming_the_field(collector: RunningCollector) -> None:
    doc = request_body([message("s", 1), message("s", 2, content="ok")])
    text = json.dumps(doc).replace('"ok"', '"bad \\ud800 text"')
    response = post(collector.url, text.encode())
    assert response.status_code == 400
    assert "events[1].properties.messageProperties.messageContent" in _error(response)["message"]
    assert collector.store.events() == []


def test_wrong_content_type_is_415_unimplemented(collector: RunningCollector) -> None:
    response = post(collector.url, b"hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    error = _error(response)
    assert error["code"] == "unimplemented"
    assert "application/json" in error["message"] and "application/proto" in error["message"]


def test_unknown_content_encoding_is_unimplemented(collector: RunningCollector) -> None:
    response = post(collector.url, b"x", headers={"Content-Encoding": "br"})
    assert response.status_code == 501
    assert _error(response)["code"] == "unimplemented"


def test_invalid_gzip_is_invalid_argument(collector: RunningCollector) -> None:
    response = post(collector.url, b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "not valid gzip" in _error(response)["message"]


def test_wrong_connect_protocol_version_is_invalid_argument(collector: RunningCollector) -> None:
    response = post(collector.url, request_body([message("s", 1)]), headers={"Connect-Protocol-Version": "2"})
    assert response.status_code == 400
    assert "Connect-Protocol-Version" in _error(response)["message"]


@pytest.fixture
def small_collector(tmp_path: Path) -> Iterator[RunningCollector]:
    with start_collector(db_path=tmp_path / "small.db", max_body_bytes=64 * 1024) as running:
        yield running


def test_oversized_body_is_413_resource_exhausted_and_connection_survives(
    small_collector: RunningCollector,
) -> None:
    big = request_body([message("s", i + 1, content="x" * 1000) for i in range(100)])
    with requests.Session() as http:
        response = post(small_collector.url, big, session=http)
        assert response.status_code == 413
        error = _error(response)
        assert error["code"] == "resource_exhausted" and "65536 bytes" in error["message"]
        # The same keep-alive connection still works.
        assert post(small_collector.url, request_body([message("s", 1)]), session=http).status_code == 200
    assert small_collector.store.event_count() == 1


def test_gzip_bomb_is_refused_without_inflating_it(small_collector: RunningCollector) -> None:
    bomb = gzip.compress(b" " * (8 * 1024 * 1024), compresslevel=9)  # 8 MiB of spaces in ~8 KiB
    assert len(bomb) < 64 * 1024
    response = post(small_collector.url, bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert _error(response)["code"] == "resource_exhausted"


# --- auth, routes --------------------------------------------------------------------------------------


@pytest.fixture
def keyed_collector(tmp_path: Path) -> Iterator[RunningCollector]:
    with start_collector(db_path=tmp_path / "keyed.db", api_key="sekrit-key-123") as running:
        yield running


def test_api_key_is_checked_with_unauthenticated_401(keyed_collector: RunningCollector) -> None:
    body = request_body([message("s", 1)])
    missing = post(keyed_collector.url, body)
    wrong = post(keyed_collector.url, body, headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        error = _error(response)
        assert error["code"] == "unauthenticated"
        assert "sekrit" not in response.text
    assert keyed_collector.store.event_count() == 0
    ok = post(keyed_collector.url, body, headers={"Authorization": "Bearer sekrit-key-123"})
    assert ok.status_code == 200
    assert "sekrit" not in repr(keyed_collector.server)
    client = align.AlignClient(host=keyed_collector.url, api_key="sekrit-key-123")
    client.create_message("s", 2, align.ROLE_ASSISTANT, "hi")
    assert client.close(timeout_seconds=10)
    assert keyed_collector.store.event_count() == 2


def test_unknown_routes_and_methods(collector: RunningCollector) -> None:
    response = requests.post(
        collector.url + "/ingestion.v1alpha.IngestionService/Nope", data=b"{}", headers=JSON_HEADERS
    )
    assert response.status_code == 404
    assert _error(response)["code"] == "unimplemented"
    assert requests.get(collector.url + COLLECT_EVENTS_PATH, timeout=5).status_code == 405
    assert requests.put(collector.url + COLLECT_EVENTS_PATH, data=b"{}", timeout=5).status_code == 405
    assert requests.get(collector.url + "/no/such/page", timeout=5).status_code == 404
    assert requests.get(collector.url + "/healthz", timeout=5).json() == {"status": "ok"}


def test_server_keeps_serving_one_keep_alive_connection_through_errors(collector: RunningCollector) -> None:
    with requests.Session() as http:
        for i in range(1, 6):
            assert post(collector.url, b"{broken", session=http).status_code == 400
            assert (
                post(collector.url, b"x", headers={"Content-Type": "text/plain"}, session=http).status_code
                == 415
            )
            assert post(collector.url, request_body([message("s", i)]), session=http).status_code == 200
    assert collector.store.event_count() == 5


def test_concurrent_clients_all_stored_exactly_once(collector: RunningCollector) -> None:
    threads_count, batches, per_batch = 8, 10, 50
    errors: list[str] = []

    def send(worker: int) -> None:
        with requests.Session() as http:
            for b in range(batches):
                events = [message(f"s-{worker}", b * per_batch + i + 1) for i in range(per_batch)]
                response = post(collector.url, request_body(events), session=http, gzip_body=b % 2 == 0)
                if response.status_code != 200:
                    errors.append(response.text)
            # Reads while others write.
            collector.store.sessions()

    threads = [threading.Thread(target=send, args=(w,)) for w in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert collector.store.event_count() == threads_count * batches * per_batch
    assert collector.store.request_count() == threads_count * batches
    assert (
        sorted(s.message_count for s in collector.store.sessions()) == [batches * per_batch] * threads_count
    )


def test_start_collector_is_a_context_manager_and_stop_is_idempotent(tmp_path: Path) -> None:
    with start_collector(db_path=tmp_path / "x.db") as running:
        assert running.url == f"http://127.0.0.1:{running.port}"
        with requests.Session() as http:  # an idle keep-alive connection must not block stop()
            assert http.get(running.url + "/healthz", timeout=5).status_code == 200
            running.stop()
            running.stop()
            with pytest.raises(requests.ConnectionError):
                http.get(running.url + "/healthz", timeout=5)
    assert session_close("s")  # helpers stay importable
    assert session_feedback("s") and event("session_close", {"sessionProperties": {"sessionId": "s"}})


def test_a_foreign_host_name_is_refused_on_a_loopback_bind(collector: RunningCollector) -> None:
    # What a DNS-rebinding page would send: its own domain name, resolved to 127.0.0.1.
    foreign = {"Host": f"attacker.example:{collector.port}"}
    assert requests.get(collector.url + "/", headers=foreign, timeout=5).status_code == 403
    refused = post(collector.url, request_body([message("s", 1)]), headers=foreign)
    assert refused.status_code == 403 and _error(refused)["code"] == "permission_denied"
    assert collector.store.event_count() == 0
    for host in (f"localhost:{collector.port}", f"127.0.0.1:{collector.port}", "app.localhost", "[::1]:1"):
        assert requests.get(collector.url + "/healthz", headers={"Host": host}, timeout=5).status_code == 200


def test_a_database_locked_by_another_process_is_unavailable_503_then_recovers(tmp_path: Path) -> None:
    store = Store(tmp_path / "locked.db", busy_timeout=0.2)
    with start_collector(store=store) as running:
        other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            response = post(running.url, request_body([message("s", 1)]))
            assert response.status_code == 503
            assert _error(response)["code"] == "unavailable"
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert post(running.url, request_body([message("s", 1)])).status_code == 200
        assert running.store.event_count() == 1
    store.close()


def test_without_a_db_path_the_database_is_temporary() -> None:
    with start_collector() as running:
        path = running.store.path
        assert path.exists()
        assert post(running.url, request_body([message("s", 1)])).status_code == 200
    assert not path.exists() and not path.parent.exists()


def test_a_post_without_length_gets_411_and_the_connection_is_closed(collector: RunningCollector) -> None:
    with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as sock:
        sock.sendall(
            f"POST {COLLECT_EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411")
    assert b"Connection: close" in head
    assert json.loads(body)["code"] == "invalid_argument"


def test_deeply_nested_json_is_invalid_argument(collector: RunningCollector) -> None:
    deep = b'{"requestId": "r", "events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    response = post(collector.url, deep)
    assert response.status_code == 400 and _error(response)["code"] == "invalid_argument"
    surrogate_deep = b'{"requestId": "\\ud800", "events": [' + b"[" * 900 + b"]" * 900 + b"]}"
    response = post(collector.url, surrogate_deep)
    assert response.status_code == 400 and _error(response)["code"] == "invalid_argument"
