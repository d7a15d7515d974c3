"""Whatever JSON a field holds, the validator answers with InvalidRequest, never another exception."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from collector_helpers import (
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

from align_instrument.collector import RunningCollector
from align_instrument.collector.validation import InvalidRequest, check_request

ODD_VALUES: list[Any] = [None, True, 0, -1, 2**40, 1.5, "", "x" * 300, "ROLE_USER", [], [1], {}, {"a": 1}]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


def _valid_events() -> list[dict[str, Any]]:
    return [
        identify("u", display_name="Ada", ip="1.2.3.4", country_code="GB", email="a@b.c"),
        session_open("s", "u", custom={"k": "v"}),
        message("s", 1, custom={"k": "v"}),
        message_feedback("s", 1),
        session_feedback("s"),
        session_close("s"),
    ]


CASES = [(i, path) for i, doc in enumerate(_valid_events()) for path in _paths(doc)]


@pytest.mark.parametrize(
    ("event_index", "path"), CASES, ids=[f"{i}:{'.'.join(map(str, p))}" for i, p in CASES]
)
def test_any_value_in_any_field_is_accepted_or_named(event_index: int, path: tuple[Any, ...]) -> None:
    assert check_request(request_body(_valid_events()))  # the unchanged request is valid
    for odd in ODD_VALUES:
        events = copy.deepcopy(_valid_events())
        target = events[event_index]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = odd
        try:
            check_request(request_body(events))
        except InvalidRequest as exc:
            assert str(exc).startswith(f"events[{event_index}]"), str(exc)


# --- proto3 defaults: an empty string is an unset field -------------------------------------------------


def _edge_sdk_request() -> dict[str, Any]:
    """What the official edge (TypeScript) SDK sends: proto3 JSON with "" for every unset string."""
    return request_body(
        [
            event(
                "user_recognize",
                {
                    "userProperties": {
                        "userId": "edge-user",
                        "userDisplayName": "",
                        "userEmail": "",
                        "userIp": "",
                        "userCreateTime": "2026-11-26T13:58:08.000Z",
                    }
                },
            ),
            event(
                "session_open",
                {
                    "sessionProperties": {
                        "sessionId": "edge-session",
                        "sessionTitle": "",
                        "sessionStartTime": "2026-11-26T13:58:08.000Z",
                        "userId": "edge-user",
                        "assistantId": "DEFAULT",
                    }
                },
            ),
            message("edge-session", 1, "user", "hello from the edge"),
            message("edge-session", 2, "assistant", "hi!"),
            session_close("edge-session"),
        ]
    )


def test_the_edge_sdk_payload_is_stored(collector: RunningCollector) -> None:
    response = post(collector.url, _edge_sdk_request())
    assert response.status_code == 200, response.text
    user = collector.store.user("edge-user")
    assert user is not None
    assert (user.display_name, user.email, user.ip) == (None, None, None)
    session = collector.store.session("edge-session")
    assert session is not None
    assert session.title is None and session.user_id == "edge-user" and session.closed
    assert [(m.index, m.role, m.content) for m in session.messages] == [
        (1, "user", "hello from the edge"),
        (2, "assistant", "hi!"),
    ]


def test_an_empty_string_reads_as_unset_in_every_optional_string_field() -> None:
    empty_location = identify("u", country_code="")
    empty_location["properties"]["userProperties"]["userLocation"].update(state="", city="")
    events = [
        identify("u", display_name="", email="", ip=""),
        empty_location,
        session_open("s", "u", assistant=""),
        message("s", 1, custom={"k": ""}),
    ]
    events[2]["properties"]["sessionProperties"]["sessionTitle"] = ""
    events[3]["properties"]["messageProperties"]["messageIdHint"] = ""
    checked = check_request(request_body(events)).events
    assert (checked[0].display_name, checked[0].email, checked[0].ip) == (None, None, None)
    assert (checked[1].country_code, checked[1].state, checked[1].city) == (None, None, None)
    assert (checked[2].session_title, checked[2].assistant_id) == (None, "DEFAULT")
    assert checked[3].custom_properties == {"k": ""}


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        (identify("u", ip="not-an-ip"), "userIp: ip must be an IPv4 address"),
        (identify("u", ip=" "), "userIp: ip must be an IPv4 address"),
        (identify("u", country_code="ZZ"), "countryCode: country_code must be an ISO 3166-1"),
        (identify("u", email="x" * 257), "userEmail: email must be at most 256 characters"),
        (identify(""), "userId: user_id is required"),
        (message("", 1), "sessionId: session_id is required"),
        (message("s", 1, content=""), "messageContent: content is required"),
    ],
)
def test_malformed_or_missing_values_are_still_rejected(doc: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidRequest, match=error):
        check_request(request_body([doc]))


def test_binary_protobuf_with_explicit_empty_strings_reads_them_as_unset() -> None:
    from align_instrument.collector.protobuf import decode_collect_events_request

    def field(number: int, payload: bytes) -> bytes:  # a length-delimited field (short payloads)
        return bytes([number << 3 | 2, len(payload)]) + payload

    user = field(1, b"u") + field(2, b"") + field(3, b"") + field(6, b"")  # email, ip, display name ""
    event_pb = field(1, b"e1") + field(2, b"user_recognize") + field(4, field(3, user)) + field(5, b"p")
    doc = decode_collect_events_request(field(1, b"r1") + field(2, event_pb))
    checked = check_request(doc).events[0]
    assert (checked.user_id, checked.email, checked.ip, checked.display_name) == ("u", None, None, None)
