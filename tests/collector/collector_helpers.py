"""Builders of wire events and a poster, for the collector's tests."""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

import requests

from align_instrument.wire import COLLECT_EVENTS_PATH

JSON_HEADERS = {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}
_ids = itertools.count(1)


def new_id(prefix: str = "e") -> str:
    return f"{prefix}{next(_ids):08d}"


def event(
    kind: str,
    properties: dict[str, Any],
    *,
    create_time: str | None = "2026-11-26T13:58:08.000001Z",
    event_id: str | None = None,
    custom: dict[str, str] | None = None,
) -> dict[str, Any]:
    props = dict(properties)
    if custom is not None:
        props["customProperties"] = {k: {"stringValue": v} for k, v in custom.items()}
    doc: dict[str, Any] = {
        "id": event_id or new_id(),
        "type": kind,
        "properties": props,
        "projectId": "local",
    }
    if create_time is not None:
        doc["createTime"] = create_time
    return doc


def ts(second: int, micro: int = 0) -> str:
    return f"2026-11-26T13:58:{second:02d}.{micro:06d}Z"


def session_open(
    session_id: str, user_id: str, at: str = ts(0), assistant: str = "bot", **kw: Any
) -> dict[str, Any]:
    return event(
        "session_open",
        {
            "sessionProperties": {
                "sessionId": session_id,
                "userId": user_id,
                "assistantId": assistant,
                "sessionStartTime": at,
            }
        },
        create_time=at,
        **kw,
    )


def session_close(session_id: str, at: str = ts(50)) -> dict[str, Any]:
    return event("session_close", {"sessionProperties": {"sessionId": session_id}}, create_time=at)


def message(
    session_id: str, index: int, role: str = "user", content: str = "hello", at: str | None = None, **kw: Any
) -> dict[str, Any]:
    return event(
        "message_create",
        {
            "messageProperties": {
                "sessionId": session_id,
                "messageIndexHint": index,
                "messageRole": "ROLE_USER" if role == "user" else "ROLE_ASSISTANT",
                "messageContent": content,
            }
        },
        create_time=at or ts(min(index, 59)),
        **kw,
    )


def message_feedback(
    session_id: str, index: int, kind: str = "thumbs_up", at: str = ts(40)
) -> dict[str, Any]:
    return event(
        "feedback_create",
        {
            "feedbackProperties": {
                "sessionId": session_id,
                "messageIndexHint": index,
                "feedbackTarget": "TARGET_MESSAGE",
                "type": kind,
            }
        },
        create_time=at,
    )


def session_feedback(session_id: str, kind: str = "thumbs_down", at: str = ts(41)) -> dict[str, Any]:
    return event(
        "feedback_create",
        {"feedbackProperties": {"sessionId": session_id, "feedbackTarget": "TARGET_SESSION", "type": kind}},
        create_time=at,
    )


def identify(user_id: str, at: str = ts(0), **fields: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"userId": user_id}
    names = {"email": "userEmail", "ip": "userIp", "display_name": "userDisplayName"}
    for key, value in fields.items():
        if key == "country_code":
            props["userLocation"] = {"countryCode": value}
        elif key in names:
            props[names[key]] = value
    return event("user_recognize", {"userProperties": props}, create_time=at)


def request_body(events: list[dict[str, Any]], request_id: str | None = None) -> dict[str, Any]:
    return {"requestId": request_id or new_id("r"), "events": events}


def post(
    url: str,
    body: dict[str, Any] | bytes,
    *,
    gzip_body: bool = False,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = dict(JSON_HEADERS)
    if gzip_body:
        data = gzip.compress(data)
        all_headers["Content-Encoding"] = "gzip"
    all_headers.update(headers or {})
    poster = session or requests
    return poster.post(url + COLLECT_EVENTS_PATH, data=data, headers=all_headers, timeout=10)


def conversation(session_id: str = "s1", user_id: str = "u1") -> list[dict[str, Any]]:
    """A small complete session: identify, open, 4 messages, feedback, close."""
    return [
        identify(user_id, display_name="Ada", country_code="GB"),
        session_open(session_id, user_id, custom={"plan": "pro"}),
        message(session_id, 1, "user", "Hi"),
        message(session_id, 2, "assistant", "Hello! How can I help?", custom={"model": "m1"}),
        message(session_id, 3, "user", "Reset my password"),
        message(session_id, 4, "assistant", "Go to Settings."),
        message_feedback(session_id, 2, "thumbs_up"),
        session_feedback(session_id, "thumbs_down"),
        session_close(session_id),
    ]
