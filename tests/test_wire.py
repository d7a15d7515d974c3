"""The Connect JSON encoding: the fast text path gives exactly the JSON of the reference dict path."""

from __future__ import annotations

import json

import pytest

from align_instrument import events as ev
from align_instrument import wire


@pytest.mark.parametrize(
    ("content", "props"),
    [
        ("hello", None),
        ('quotes " and \\ backslash\nnewline\ttab \x00 nul', None),
        ("héllo wörld ✓ 你好 🎉", {"model": "gpt-4o", "latency_ms": "12"}),
        ("x" * 10_000, {"k": 'v "quoted" ✓'}),
    ],
)
@pytest.mark.parametrize("role", [ev.ROLE_USER, ev.ROLE_ASSISTANT])
def test_message_text_matches_the_dict_encoding(
    content: str, props: dict[str, str] | None, role: str
) -> None:
    event: ev.Event = (7, ev.MESSAGE_CREATE, 1_700_000_000.123456, ("sess-é", 3, role, content), props, 0)
    text = wire.encode_event_text(event, "abc7", "proj")
    assert json.loads(text) == wire.encode_event(event, "abc7", "proj")


def test_other_types_and_the_request_envelope() -> None:
    event: ev.Event = (1, ev.SESSION_OPEN, 1_700_000_000.5, ("s", "u", "DEFAULT"), {"plan": "pro"}, 0)
    body = json.loads(wire.encode_request("req-1", [wire.encode_event_text(event, "id1", "p").encode()]))
    assert body == {
        "requestId": "req-1",
        "events": [
            {
                "id": "id1",
                "type": "session_open",
                "createTime": "2023-11-14T22:13:20.500000Z",
                "properties": {
                    "sessionProperties": {
                        "sessionId": "s",
                        "sessionStartTime": "2023-11-14T22:13:20.500000Z",
                        "userId": "u",
                        "assistantId": "DEFAULT",
                    },
                    "customProperties": {"plan": {"stringValue": "pro"}},
                },
                "projectId": "p",
            }
        ],
    }


def test_timestamps_are_rfc3339_utc_with_microseconds() -> None:
    assert wire.format_timestamp(0.0) == "1970-01-01T00:00:00.000000Z"
    assert wire.format_timestamp(1_700_000_000.999999) == "2023-11-14T22:13:20.999999Z"
    assert wire.format_timestamp(1_700_000_001.000001) == "2023-11-14T22:13:21.000001Z"
