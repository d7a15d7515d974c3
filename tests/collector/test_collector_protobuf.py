"""The binary ``application/proto`` path, checked against the official SDK's own protobuf classes."""

from __future__ import annotations

import contextlib
import random
import time
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from align_instrument.collector import RunningCollector
from align_instrument.collector.protobuf import ProtobufDecodeError, decode_collect_events_request
from align_instrument.wire import COLLECT_EVENTS_PATH

event_pb2 = pytest.importorskip(
    "alignai.proto.ingestion.v1alpha.event_pb2", reason="alignai (dev tool) not installed"
)
ingestion_pb2 = pytest.importorskip("alignai.proto.ingestion.v1alpha.ingestion_pb2")
json_format = pytest.importorskip("google.protobuf.json_format")
timestamp_pb2 = pytest.importorskip("google.protobuf.timestamp_pb2")

Event = event_pb2.Event
Props = event_pb2.EventProperties
CollectEventsRequest = ingestion_pb2.CollectEventsRequest
PROTO_HEADERS = {"Content-Type": "application/proto"}


def _ts(seconds: int, nanos: int = 0) -> Any:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def _all_kinds() -> Any:
    custom = {"plan": Props.CustomPropertyValue(string_value="pro"), "empty": Props.CustomPropertyValue()}
    events = [
        Event(
            id="u1",
            type="user_recognize",
            create_time=_ts(1_795_700_000, 123_000_000),
            project_id="p",
            properties=Props(
                user_properties=Props.UserProperties(
                    user_id="user-1",
                    user_email="a@example.com",
                    user_ip="10.1.2.3",
                    user_location=Props.UserProperties.Location(
                        country_code="KR", state="Seoul", city="Seoul"
                    ),
                    user_create_time=_ts(0),
                    user_display_name="Ada ✓",
                ),
                custom_properties=custom,
            ),
        ),
        Event(
            id="o1",
            type="session_open",
            create_time=_ts(1_795_700_001, 1),
            project_id="p",
            properties=Props(
                session_properties=Props.SessionProperties(
                    session_id="sess-1",
                    session_title="Title",
                    session_start_time=_ts(1_795_700_001, 500),
                    user_id="user-1",
                    assistant_id="DEFAULT",
                )
            ),
        ),
        Event(
            id="m1",
            type="message_create",
            create_time=_ts(1_795_700_002, 456_789_000),
            project_id="p",
            properties=Props(
                message_properties=Props.MessageProperties(
                    session_id="sess-1",
                    message_index_hint=2_147_483_647,
                    message_role=Props.MessageProperties.Role.ROLE_ASSISTANT,
                    message_content="héllo\n世界",
                    message_create_time=_ts(-62_135_596_800),
                )
            ),
        ),
        Event(
            id="f1",
            type="feedback_create",
            create_time=_ts(1_795_700_003),
            project_id="p",
            properties=Props(
                feedback_properties=Props.FeedbackProperties(
                    session_id="sess-1",
                    message_index_hint=2,
                    feedback_target=Props.FeedbackProperties.TARGET_MESSAGE,
                    type="thumbs_up",
                )
            ),
        ),
        Event(
            id="f2",
            type="feedback_create",
            create_time=_ts(1_795_700_004),
            project_id="p",
            properties=Props(
                feedback_properties=Props.FeedbackProperties(
                    session_id="sess-1",
                    feedback_target=Props.FeedbackProperties.TARGET_SESSION,
                    type="thumbs_down",
                )
            ),
        ),
        Event(
            id="c1",
            type="session_close",
            create_time=_ts(253_402_300_799, 999_999_999),
            project_id="p",
            properties=Props(session_properties=Props.SessionProperties(session_id="sess-1")),
        ),
    ]
    return CollectEventsRequest(request_id="req-1", events=events)


def test_decoder_matches_the_official_json_mapping_for_every_event_kind() -> None:
    request = _all_kinds()
    assert decode_collect_events_request(request.SerializeToString()) == json_format.MessageToDict(request)


@pytest.mark.parametrize("nanos", [0, 1, 1_000, 1_000_000, 999_999_999, 120_000_000])
def test_timestamps_format_like_proto3_json(nanos: int) -> None:
    request = CollectEventsRequest(
        request_id="r", events=[Event(id="x", create_time=_ts(1_700_000_000, nanos))]
    )
    assert decode_collect_events_request(request.SerializeToString()) == json_format.MessageToDict(request)


def test_negative_int32_and_unknown_enum_numbers_decode_like_protobuf() -> None:
    msg = Props.MessageProperties(session_id="s", message_index_hint=-5, message_role=7)
    request = CollectEventsRequest(events=[Event(properties=Props(message_properties=msg))])
    decoded = decode_collect_events_request(request.SerializeToString())
    assert decoded == json_format.MessageToDict(request)
    assert decoded["events"][0]["properties"]["messageProperties"]["messageIndexHint"] == -5


def test_a_message_field_given_twice_is_merged() -> None:
    first = Event(id="a", properties=Props(message_properties=Props.MessageProperties(session_id="s")))
    second = Event(properties=Props(message_properties=Props.MessageProperties(message_content="c")))
    event_bytes = first.SerializeToString() + second.SerializeToString()  # protobuf merges these
    merged = Event()
    merged.MergeFromString(event_bytes)
    by_hand = b"\x12" + bytes([len(event_bytes)]) + event_bytes  # CollectEventsRequest{events: <bytes>}
    decoded = decode_collect_events_request(by_hand)
    assert decoded == json_format.MessageToDict(CollectEventsRequest(events=[merged]))
    assert decoded["events"][0]["properties"]["messageProperties"] == {
        "sessionId": "s",
        "messageContent": "c",
    }


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"\x12\x05\x0a\x03ab", r"events\[0\]: .*truncated|truncated"),
        (b"\x0a\x02\xff\xfe", r"requestId: string is not valid UTF-8"),
        (b"\x18\x01", r"unknown field number 3 in CollectEventsRequest"),
        (b"\x08\x01", r"requestId: wire type 0, expected 2"),
        (b"\x12\x04\x22\x02\x38\x01", r"events\[0\]\.properties: unknown field number 7 in EventProperties"),
        (b"\x0a", r"truncated varint"),
        (b"\x0a" + b"\xff" * 11, r"varint longer than 10 bytes"),
        (b"\x12\x04\x1a\x02\x10\x80", r"events\[0\]\.createTime.*truncated varint"),
    ],
    ids=[
        "truncated",
        "bad utf8",
        "unknown top field",
        "wrong wire type",
        "reserved field",
        "varint eof",
        "long varint",
        "bad timestamp",
    ],
)
def test_malformed_protobuf_is_rejected_naming_where(data: bytes, pattern: str) -> None:
    with pytest.raises(ProtobufDecodeError, match=pattern):
        decode_collect_events_request(data)


def test_timestamp_out_of_range_is_rejected() -> None:
    bad = CollectEventsRequest(events=[Event(id="x")]).SerializeToString()
    # seconds = 253402300800 (year 10000) encoded by hand: Event{create_time{seconds}}
    seconds = 253_402_300_800
    varint = bytearray()
    while True:
        byte = seconds & 0x7F
        seconds >>= 7
        varint.append(byte | (0x80 if seconds else 0))
        if not seconds:
            break
    ts = b"\x08" + bytes(varint)
    event = b"\x1a" + bytes([len(ts)]) + ts
    body = b"\x12" + bytes([len(event)]) + event
    assert bad  # the valid form decodes
    with pytest.raises(
        ProtobufDecodeError, match=r"createTime: seconds 253402300800 out of the Timestamp range"
    ):
        decode_collect_events_request(body)


def test_proto_request_is_stored_and_answered_in_proto(collector: RunningCollector) -> None:
    response = requests.post(
        collector.url + COLLECT_EVENTS_PATH,
        data=_all_kinds().SerializeToString(),
        headers=PROTO_HEADERS,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/proto"
    assert response.content == b""  # google.protobuf.Empty
    session = collector.store.session("sess-1")
    assert session is not None
    assert session.title == "Title" and session.closed
    assert session.messages[0].content == "héllo\n世界"
    assert [
        f.type for f in session.messages[0].feedback
    ] == []  # feedback targets index 2; the message is 2**31-1
    assert [f.message_index for f in session.unmatched_feedback] == [2]
    user = collector.store.user("user-1")
    assert user is not None and user.location == "Seoul, Seoul, KR" and user.display_name == "Ada ✓"
    assert user.custom_properties == {"plan": "pro", "empty": ""}
    exported = collector.store.events()
    assert exported[0] == json_format.MessageToDict(_all_kinds().events[0])


def test_invalid_proto_event_is_rejected_with_index_and_field(collector: RunningCollector) -> None:
    request = _all_kinds()
    request.events[2].properties.message_properties.message_content = ""
    response = requests.post(
        collector.url + COLLECT_EVENTS_PATH,
        data=request.SerializeToString(),
        headers=PROTO_HEADERS,
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_argument"
    assert response.json()["message"].startswith("events[2].properties.messageProperties.messageContent: ")
    garbage = requests.post(
        collector.url + COLLECT_EVENTS_PATH, data=b"\x0a\x09ab", headers=PROTO_HEADERS, timeout=10
    )
    assert garbage.status_code == 400 and "truncated" in garbage.json()["message"]
    assert collector.store.event_count() == 0


def test_the_official_alignai_sdk_works_against_the_collector_unchanged(collector: RunningCollector) -> None:
    alignai = pytest.importorskip("alignai")
    constants = pytest.importorskip("alignai.constants")
    sdk = alignai.AlignAI(api_host=collector.url, api_key="any-key", project_id="proj-1")
    sdk.identify_user(
        "sdk-user",
        display_name="SDK",
        ip="192.168.0.10",
        create_time=datetime(2026, 1, 2, tzinfo=timezone.utc),
    )
    sdk.open_session("sdk-session", "sdk-user", custom_properties={"source": "official"})
    sdk.create_message("sdk-session", 1, constants.ROLE_USER, "hello from the official SDK")
    sdk.create_message("sdk-session", 2, constants.ROLE_ASSISTANT, "hi!", custom_properties={"k": "v"})
    sdk.create_message_feedback("sdk-session", 2, constants.FEEDBACK_THUMBS_UP)
    sdk.create_session_feedback("sdk-session", constants.FEEDBACK_THUMBS_DOWN)
    sdk.close_session("sdk-session")
    sdk.close()
    deadline = time.monotonic() + 10  # the SDK may still have one batch in its own sender thread
    while collector.store.event_count() < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert collector.store.event_count() == 7
    session = collector.store.session("sdk-session")
    assert session is not None
    assert (session.user_id, session.assistant_id, session.custom_properties) == (
        "sdk-user",
        "DEFAULT",
        {"source": "official"},
    )
    assert [(m.index, m.role, m.content) for m in session.messages] == [
        (1, "user", "hello from the official SDK"),
        (2, "assistant", "hi!"),
    ]
    assert [f.type for f in session.messages[1].feedback] == ["thumbs_up"]
    assert [f.type for f in session.session_feedback] == ["thumbs_down"] and session.closed
    user = collector.store.user("sdk-user")
    assert user is not None and user.location == "ip 192.168.0.10"
    assert user.create_time == datetime(2026, 1, 2, tzinfo=timezone.utc).timestamp()
    assert all(e["projectId"] == "proj-1" for e in collector.store.events())


def test_corrupted_bodies_only_ever_raise_the_decoder_or_validation_error() -> None:
    from align_instrument.collector.validation import InvalidRequest, check_request

    body = bytearray(_all_kinds().SerializeToString())
    rng = random.Random(1234)
    for _ in range(400):
        mutated = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            action = rng.random()
            position = rng.randrange(len(mutated))
            if action < 0.6:
                mutated[position] = rng.randrange(256)
            elif action < 0.8:
                del mutated[position:]
            else:
                mutated[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            if not mutated:
                break
        with contextlib.suppress(ProtobufDecodeError, InvalidRequest):  # anything else fails the test
            check_request(decode_collect_events_request(bytes(mutated)))
