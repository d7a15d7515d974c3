"""Connect JSON encoding of the Align ingestion API (see ``shared/wire-protocol.md``).

Runs on the delivery worker, never on the caller's thread.
"""

from __future__ import annotations

import gzip
import json
import json.encoder
import time
from typing import Any

from . import events as ev

COLLECT_EVENTS_PATH = "/ingestion.v1alpha.IngestionService/CollectEvents"
JSON_HEADERS = {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}
GZIP_MIN_BYTES = 8 * 1024  # below this gzip costs more CPU than it saves on the wire

_quote = json.encoder.encode_basestring  # C-accelerated JSON string literal, non-ASCII kept as is
_ROLE_ENUM = {ev.ROLE_USER: "ROLE_USER", ev.ROLE_ASSISTANT: "ROLE_ASSISTANT"}


class _TimestampFormatter:
    """RFC 3339 UTC with microseconds; the seconds part is cached (events come in bursts)."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ts: float) -> str:
        second, micros = divmod(round(ts * 1_000_000), 1_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{micros:06d}Z"


format_timestamp = _TimestampFormatter()


def encode_event(event: ev.Event, event_id: str, project_id: str) -> dict[str, Any]:
    """The proto3 JSON form of one event: only the fields the contract names."""
    _, kind, create_time, f, custom_properties, _ = event
    props: dict[str, Any]
    if kind == ev.MESSAGE_CREATE:
        session_id, index, role, content = f
        props = {
            "messageProperties": {
                "sessionId": session_id,
                "messageIndexHint": index,
                "messageRole": _ROLE_ENUM[role],
                "messageContent": content,
            }
        }
    elif kind == ev.SESSION_OPEN:
        session_id, user_id, assistant_id = f
        props = {
            "sessionProperties": {
                "sessionId": session_id,
                "sessionStartTime": format_timestamp(create_time),
                "userId": user_id,
                "assistantId": assistant_id,
            }
        }
    elif kind == ev.SESSION_CLOSE:
        props = {"sessionProperties": {"sessionId": f[0]}}
    elif kind == ev.FEEDBACK_CREATE:
        session_id, index, feedback_type = f
        feedback: dict[str, Any] = {"sessionId": session_id}
        if index is None:
            feedback["feedbackTarget"] = "TARGET_SESSION"
        else:
            feedback["messageIndexHint"] = index
            feedback["feedbackTarget"] = "TARGET_MESSAGE"
        feedback["type"] = feedback_type
        props = {"feedbackProperties": feedback}
    elif kind == ev.USER_RECOGNIZE:
        user_id, display_name, email, ip, country_code, user_create_time = f
        user: dict[str, Any] = {"userId": user_id}
        if email is not None:
            user["userEmail"] = email
        if ip is not None:
            user["userIp"] = ip
        if country_code is not None:
            user["userLocation"] = {"countryCode": country_code}
        if user_create_time is not None:
            user["userCreateTime"] = format_timestamp(user_create_time)
        if display_name is not None:
            user["userDisplayName"] = display_name
        props = {"userProperties": user}
    else:  # pragma: no cover - events.py only builds the types above
        raise ValueError(f"unknown event type {kind!r}")
    if custom_properties:
        props["customProperties"] = {k: {"stringValue": v} for k, v in custom_properties.items()}
    return {
        "id": event_id,
        "type": kind,
        "createTime": format_timestamp(create_time),
        "properties": props,
        "projectId": project_id,
    }


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_event_text(event: ev.Event, event_id: str, project_id: str) -> str:
    """The JSON text of ``encode_event``. Messages, nearly all of the traffic, are formatted directly:
    twice as cheap as building the dict and dumping it (the test suite checks both give the same JSON).
    """
    _, kind, create_time, f, custom_properties, _ = event
    if kind != ev.MESSAGE_CREATE:
        return dumps(encode_event(event, event_id, project_id))
    session_id, index, role, content = f
    custom = ""
    if custom_properties:
        entries = ",".join(f'{_quote(k)}:{{"stringValue":{_quote(v)}}}' for k, v in custom_properties.items())
        custom = f',"customProperties":{{{entries}}}'
    return (
        f'{{"id":{_quote(event_id)},"type":"message_create","createTime":"{format_timestamp(create_time)}",'
        f'"properties":{{"messageProperties":{{"sessionId":{_quote(session_id)},"messageIndexHint":{index},'
        f'"messageRole":"{_ROLE_ENUM[role]}","messageContent":{_quote(content)}}}{custom}}},'
        f'"projectId":{_quote(project_id)}}}'
    )


def encode_request(request_id: str, event_bodies: list[bytes]) -> bytes:
    """The request body around events already encoded one by one (``encode_event_text(...).encode()``):
    a string that cannot be encoded then fails its own event, not the batch."""
    return b'{"requestId":%s,"events":[%s]}' % (_quote(request_id).encode(), b",".join(event_bodies))


def maybe_gzip(body: bytes, enabled: bool = True) -> tuple[bytes, bool]:
    if not enabled or len(body) < GZIP_MIN_BYTES:
        return body, False
    return gzip.compress(body, compresslevel=1), True
