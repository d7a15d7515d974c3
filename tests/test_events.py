"""Every field rule of the wire contract, enforced on the caller's thread before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fault_server import FaultServer

import align_instrument as align


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


@pytest.fixture
def client(server: FaultServer) -> Iterator[align.AlignClient]:
    c = align.AlignClient(host=server.url, flush_interval=60)
    yield c
    c.close(timeout_seconds=2)


def rejected(call: Any, *args: Any, field: str, rule: str, **kwargs: Any) -> align.ValidationError:
    with pytest.raises(align.ValidationError) as info:
        call(*args, **kwargs)
    assert info.value.field == field
    assert rule in info.value.rule
    assert field in str(info.value)
    return info.value


LONG = "x" * 65


@pytest.mark.parametrize("field", ["user_id", "display_name"])
def test_identify_user_64_char_fields(client: align.AlignClient, field: str) -> None:
    kwargs: dict[str, Any] = {"user_id": "u1", field: LONG}
    error = rejected(client.identify_user, field=field, rule="at most 64 characters", **kwargs)
    assert "65 chars" in error.value  # the bad value is shown, truncated


def test_ids_required_non_empty_strings(client: align.AlignClient) -> None:
    rejected(client.identify_user, "", field="user_id", rule="required")
    rejected(client.identify_user, 42, field="user_id", rule="must be a string")
    rejected(client.open_session, "", "u", field="session_id", rule="required")
    rejected(client.open_session, "s", None, field="user_id", rule="must be a string")
    rejected(client.open_session, "s", "u", assistant_id=LONG, field="assistant_id", rule="at most 64")
    rejected(client.close_session, LONG, field="session_id", rule="at most 64")
    rejected(client.create_session_feedback, LONG, "thumbs_up", field="session_id", rule="at most 64")
    rejected(client.create_message, LONG, 1, "user", "hi", field="session_id", rule="at most 64")


def test_email_ip_country(client: align.AlignClient) -> None:
    rejected(client.identify_user, "u", email="e" * 257, field="email", rule="at most 256")
    client.identify_user("u", email="e" * 256)
    for bad_ip in ["256.1.1.1", "::1", "1.2.3", "localhost", "1.2.3.4 "]:
        rejected(client.identify_user, "u", ip=bad_ip, field="ip", rule="IPv4")
    client.identify_user("u", ip="203.0.113.9")
    for bad_cc in ["USA", "us", "XX", "U", ""]:
        rejected(client.identify_user, "u", country_code=bad_cc, field="country_code", rule="alpha-2")
    client.identify_user("u", country_code="KR")


def test_create_time_must_be_datetime(client: align.AlignClient) -> None:
    rejected(client.identify_user, "u", create_time="2024-01-01", field="create_time", rule="datetime")


def test_custom_properties_rules(client: align.AlignClient) -> None:
    ok_key = "a" + "b" * 63
    client.open_session("s", "u", custom_properties={ok_key: "v"})
    for bad_key in ["1abc", "_a", "a-b", "a b", "", "a" + "b" * 64, "é"]:
        rejected(
            client.open_session,
            "s",
            "u",
            custom_properties={bad_key: "v"},
            field="custom_properties key",
            rule="must match",
        )
    rejected(
        client.open_session,
        "s",
        "u",
        custom_properties={"k": "v" * 257},
        field="custom_properties['k']",
        rule="at most 256",
    )
    eleven = {f"k{i}": "v" for i in range(11)}
    rejected(
        client.open_session,
        "s",
        "u",
        custom_properties=eleven,
        field="custom_properties",
        rule="at most 10 entries",
    )
    rejected(
        client.open_session,
        "s",
        "u",
        custom_properties={"k": [1]},
        field="custom_properties['k']",
        rule="str, int, float or bool",
    )
    rejected(
        client.open_session,
        "s",
        "u",
        custom_properties={"k": None},
        field="custom_properties['k']",
        rule="str, int, float or bool",
    )
    rejected(client.open_session, "s", "u", custom_properties=["k"], field="custom_properties", rule="dict")


def test_message_index_rules(client: align.AlignClient) -> None:
    for bad in [0, -1, True, 1.0, "1", None]:
        rejected(client.create_message, "s", bad, "user", "hi", field="message_index", rule="positive int")
        rejected(
            client.create_message_feedback, "s", bad, "thumbs_up", field="message_index", rule="positive int"
        )
    rejected(client.create_message, "s", 2**31, "user", "hi", field="message_index", rule="int32")
    client.create_message("s", 2**31 - 1, "user", "hi")


def test_role_content_feedback_type(client: align.AlignClient) -> None:
    for bad_role in ["system", "USER", "", None, ["user"]]:
        rejected(client.create_message, "s", 1, bad_role, "hi", field="role", rule="'user' or 'assistant'")
    rejected(client.create_message, "s", 1, "user", "", field="content", rule="required")
    rejected(client.create_message, "s", 1, "user", None, field="content", rule="string")
    for bad_type in ["up", "THUMBS_UP", None, ["thumbs_up"], {}]:
        rejected(client.create_message_feedback, "s", 1, bad_type, field="feedback_type", rule="thumbs_up")
        rejected(client.create_session_feedback, "s", bad_type, field="feedback_type", rule="thumbs_up")


def test_duplicate_message_index_in_a_session(client: align.AlignClient) -> None:
    client.create_message("s", 1, "user", "hi")
    rejected(client.create_message, "s", 1, "assistant", "hello", field="message_index", rule="already used")
    client.create_message("other", 1, "user", "same index, other session")


def test_duplicate_memory_is_bounded(server: FaultServer) -> None:
    c = align.AlignClient(host=server.url, flush_interval=60, recent_sessions=3)
    for i in range(10):
        c.create_message(f"s{i}", 1, "user", "hi")
    assert len(c._used_indexes) <= 3
    c.create_message("s0", 1, "user", "forgotten long ago, so accepted")
    c.close(2)


def test_a_bad_call_sends_nothing_and_good_ones_are_encoded(
    server: FaultServer, client: align.AlignClient
) -> None:
    created = datetime(2024, 5, 1, 12, 30, 15, 250000)  # naive: taken as UTC
    with pytest.raises(align.ValidationError):
        client.create_message("s1", 1, "user", "hi", custom_properties={"bad key": "v"})
    client.identify_user(
        "u1",
        display_name="Ada",
        email="ada@example.com",
        ip="203.0.113.9",
        country_code="GB",
        create_time=created,
        custom_properties={"plan": "pro", "seats": 3, "ratio": 0.5, "trial": False},
    )
    client.open_session("s1", "u1")
    client.create_message("s1", 1, align.ROLE_USER, "hi", custom_properties={"lang": "en"})
    client.create_message("s1", 2, align.ROLE_ASSISTANT, "héllo ✓")
    client.create_message_feedback("s1", 2, align.FEEDBACK_THUMBS_UP)
    client.create_session_feedback("s1", align.FEEDBACK_THUMBS_DOWN)
    client.close_session("s1")
    assert client.flush(5)
    events = server.delivered()
    assert [e["type"] for e in events] == [
        "user_recognize",
        "session_open",
        "message_create",
        "message_create",
        "feedback_create",
        "feedback_create",
        "session_close",
    ]
    assert len({e["id"] for e in events}) == len(events)
    assert all(e["projectId"] == "local" and e["createTime"].endswith("Z") for e in events)
    user = events[0]["properties"]
    assert user["userProperties"] == {
        "userId": "u1",
        "userEmail": "ada@example.com",
        "userIp": "203.0.113.9",
        "userLocation": {"countryCode": "GB"},
        "userCreateTime": "2024-05-01T12:30:15.250000Z",
        "userDisplayName": "Ada",
    }
    assert user["customProperties"] == {
        "plan": {"stringValue": "pro"},
        "seats": {"stringValue": "3"},
        "ratio": {"stringValue": "0.5"},
        "trial": {"stringValue": "false"},
    }
    session = events[1]["properties"]["sessionProperties"]
    assert session["assistantId"] == "DEFAULT" and session["userId"] == "u1"
    assert session["sessionStartTime"] == events[1]["createTime"]
    assert events[2]["properties"]["messageProperties"] == {
        "sessionId": "s1",
        "messageIndexHint": 1,
        "messageRole": "ROLE_USER",
        "messageContent": "hi",
    }
    assert events[3]["properties"]["messageProperties"]["messageRole"] == "ROLE_ASSISTANT"
    assert events[3]["properties"]["messageProperties"]["messageContent"] == "héllo ✓"
    assert events[4]["properties"]["feedbackProperties"] == {
        "sessionId": "s1",
        "messageIndexHint": 2,
        "feedbackTarget": "TARGET_MESSAGE",
        "type": "thumbs_up",
    }
    assert events[5]["properties"]["feedbackProperties"] == {
        "sessionId": "s1",
        "feedbackTarget": "TARGET_SESSION",
        "type": "thumbs_down",
    }
    assert events[6]["properties"] == {"sessionProperties": {"sessionId": "s1"}}


def test_aware_datetimes_are_converted_to_utc(server: FaultServer, client: align.AlignClient) -> None:
    seoul = timezone(timedelta(hours=9))
    client.identify_user("u", create_time=datetime(2024, 5, 1, 9, 0, 0, tzinfo=seoul))
    assert client.flush(5)
    assert (
        server.delivered()[0]["properties"]["userProperties"]["userCreateTime"]
        == "2024-05-01T00:00:00.000000Z"
    )


# --- text that cannot be encoded as UTF-8 (half an emoji from a JavaScript front end) ---------------------

HALF_EMOJI = "\ud83d"  # a JS string cut by UTF-16 units: "I love it 😀".slice(0, -1)


def test_encodable_replaces_unpaired_surrogates_only() -> None:
    from align_instrument.events import encodable

    plain = "How do I reset my password?"
    assert encodable(plain) is plain
    accented = "Ça coûte 5 € 😀"
    assert encodable(accented) is accented
    assert encodable(f"I love it {HALF_EMOJI}") == "I love it \ufffd"
    assert encodable("\ude00 end") == "\ufffd end"
    assert encodable("\ud83d\ude00") == "😀"  # a pair split into two code points is rejoined
    assert encodable(f"{HALF_EMOJI}{HALF_EMOJI}x").encode() == "\ufffd\ufffdx".encode()


def test_a_half_emoji_among_20_users_is_delivered_with_its_neighbours(collector: Any) -> None:
    client = align.AlignClient(host=collector.url, flush_interval=60)
    try:
        for n in range(21):
            half = n == 10
            user_id = f"user-{n}{HALF_EMOJI if half else ''}"
            client.identify_user(user_id, display_name=f"Ada {HALF_EMOJI}" if half else "Ada")
            client.open_session(f"s-{n}", user_id=user_id)
            text = f"I love it {HALF_EMOJI}" if half else f"message {n}"
            client.create_message(f"s-{n}", 1, align.ROLE_USER, text, custom_properties={"tag": text})
        assert client.flush(5)
        assert client.stats()["dropped"] == {}
    finally:
        client.close(2)
    stored = {s.session_id: s for s in collector.store.sessions()}
    assert len(stored) == 21
    detail = collector.store.session("s-10")
    assert detail is not None
    assert detail.messages[0].content == "I love it \ufffd"
    assert detail.messages[0].custom_properties == {"tag": "I love it \ufffd"}
    assert stored["s-10"].user_id == "user-10\ufffd"
    assert collector.store.session("s-3").messages[0].content == "message 3"  # type: ignore[union-attr]


def test_an_event_that_still_cannot_be_encoded_loses_only_itself(collector: Any) -> None:
    def put_it_back(doc: dict[str, Any]) -> dict[str, Any]:  # an app's before_send editing text
        message = doc["properties"].get("messageProperties")
        if message is not None and message["messageContent"] == "bad":
            message["messageContent"] = HALF_EMOJI
        return doc

    client = align.AlignClient(host=collector.url, flush_interval=60, before_send=put_it_back)
    try:
        client.open_session("s", user_id="u")
        for i, text in enumerate(["one", "bad", "three"], 1):
            client.create_message("s", i, align.ROLE_USER, text)
        assert not client.flush(5)  # not everything was delivered, and it says so
        assert client.stats()["dropped"] == {"unencodable": 1}
    finally:
        client.close(2)
    detail = collector.store.session("s")
    assert detail is not None
    assert [(m.index, m.content) for m in detail.messages] == [(1, "one"), (3, "three")]
