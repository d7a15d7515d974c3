"""Checks a received CollectEventsRequest against the wire contract and the field rules.

The input is the proto3 JSON form of the request (parsed from Connect JSON, or produced by
:mod:`.protobuf` from a binary body). The field rules themselves live in
:mod:`align_instrument.events` and are shared with the client; this module adds the
structure of the contract (required fields, types, enum names, timestamps, unknown fields)
and names every error by event index and wire field, e.g.
``events[3].properties.messageProperties.messageIndexHint: must be a positive int (got 0)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar

from .. import events as ev

MAX_REQUEST_ID_CHARS = 256
MAX_EVENT_ID_CHARS = 128
MAX_PROJECT_ID_CHARS = 256
MAX_FREE_TEXT_CHARS = 1024  # session title, state, city: no documented rule, only a sanity bound

ROLE_NAMES = {"ROLE_USER": ev.ROLE_USER, "ROLE_ASSISTANT": ev.ROLE_ASSISTANT}
ROLE_NUMBERS = {1: "ROLE_USER", 2: "ROLE_ASSISTANT"}
TARGET_NAMES = {"TARGET_SESSION": "session", "TARGET_MESSAGE": "message"}
TARGET_NUMBERS = {1: "TARGET_SESSION", 2: "TARGET_MESSAGE"}

# Which properties member each event type must carry.
PROPERTIES_FOR_TYPE = {
    ev.SESSION_OPEN: "sessionProperties",
    ev.SESSION_CLOSE: "sessionProperties",
    ev.MESSAGE_CREATE: "messageProperties",
    ev.USER_RECOGNIZE: "userProperties",
    ev.FEEDBACK_CREATE: "feedbackProperties",
}

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
# JSON name -> proto name of each message's fields (proto3 JSON parsers accept both).
_REQUEST_FIELDS = {"requestId": "request_id", "events": "events"}
_EVENT_FIELDS = {
    "id": "id",
    "type": "type",
    "createTime": "create_time",
    "properties": "properties",
    "projectId": "project_id",
}
_PROPERTIES_FIELDS = {
    "sessionProperties": "session_properties",
    "messageProperties": "message_properties",
    "userProperties": "user_properties",
    "feedbackProperties": "feedback_properties",
    "customProperties": "custom_properties",
}
_SESSION_FIELDS = {
    "sessionId": "session_id",
    "sessionTitle": "session_title",
    "sessionStartTime": "session_start_time",
    "userId": "user_id",
    "assistantId": "assistant_id",
}
_MESSAGE_FIELDS = {
    "sessionId": "session_id",
    "messageIdHint": "message_id_hint",
    "messageIndexHint": "message_index_hint",
    "messageRole": "message_role",
    "messageContent": "message_content",
    "messageCreateTime": "message_create_time",
}
_USER_FIELDS = {
    "userId": "user_id",
    "userEmail": "user_email",
    "userIp": "user_ip",
    "userLocation": "user_location",
    "userCreateTime": "user_create_time",
    "userDisplayName": "user_display_name",
}
_LOCATION_FIELDS = {"countryCode": "country_code", "state": "state", "city": "city"}
_FEEDBACK_FIELDS = {
    "sessionId": "session_id",
    "messageIndexHint": "message_index_hint",
    "feedbackTarget": "feedback_target",
    "type": "type",
}
_CUSTOM_VALUE_FIELDS = {"stringValue": "string_value"}
_MESSAGE_MEMBERS = frozenset({"messageProperties", "customProperties"})
_MESSAGE_FAST_KEYS = frozenset({"sessionId", "messageIndexHint", "messageRole", "messageContent"})
_PROTO_TO_JSON = {
    proto: json_name
    for table in (
        _REQUEST_FIELDS,
        _EVENT_FIELDS,
        _PROPERTIES_FIELDS,
        _SESSION_FIELDS,
        _MESSAGE_FIELDS,
        _USER_FIELDS,
        _LOCATION_FIELDS,
        _FEEDBACK_FIELDS,
        _CUSTOM_VALUE_FIELDS,
    )
    for json_name, proto in table.items()
}

# The JSON names of the optional string fields. In proto3 an empty string is the field's default, so
# it reads as unset, as from a binary body: SDKs that emit defaults send "userIp": "" for "no IP".
# (A required field's "" still fails its own rule, which names it.)
_OPTIONAL_STRING_FIELDS = frozenset(
    {
        "sessionTitle", "assistantId", "messageIdHint", "userEmail", "userIp", "userDisplayName",
        "countryCode", "state", "city", "stringValue",
    }
)  # fmt: skip
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_T = TypeVar("_T")
_show = ev._preview


class InvalidRequest(ValueError):
    """The request breaks the contract; the message names the event index and the field."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~2x (object.__setattr__ per field)
class CheckedEvent:
    """One received event, checked, with its values in Python form.

    Timestamps are POSIX seconds (UTC). Only the fields of the event's own type are set.
    ``raw`` is the event exactly as received (its proto3 JSON form).
    """

    id: str
    type: str
    project_id: str
    create_time: float | None
    raw: dict[str, Any]
    session_id: str | None = None
    user_id: str | None = None
    assistant_id: str | None = None
    session_title: str | None = None
    session_start_time: float | None = None
    message_index: int | None = None
    role: str | None = None
    content: str | None = None
    message_create_time: float | None = None
    email: str | None = None
    ip: str | None = None
    country_code: str | None = None
    state: str | None = None
    city: str | None = None
    display_name: str | None = None
    user_create_time: float | None = None
    feedback_target: str | None = None  # "session" or "message"
    feedback_type: str | None = None
    custom_properties: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A whole request that passed every check."""

    request_id: str
    events: list[CheckedEvent]


def check_request(doc: object, *, body_text: str | None = None) -> CheckedRequest:
    """Check a parsed CollectEventsRequest (proto3 JSON form) and return its events.

    Args:
        doc: the parsed JSON body.
        body_text: the JSON text it was parsed from, if any; used to find strings holding
            lone surrogates (``"\\ud800"`` escapes), which are not Unicode and cannot be stored.

    Raises:
        InvalidRequest: the first problem found, naming the event index and the wire field.

    Example:
        >>> check_request({"requestId": "r1", "events": [...]}).events[0].type
        'message_create'
    """
    if body_text is not None and _SURROGATE_ESCAPE.search(body_text):
        _reject_surrogates(doc, "")
    if not isinstance(doc, dict):
        raise InvalidRequest(f"request body must be a JSON object (CollectEventsRequest), got {_kind(doc)}")
    fields = _fields(doc, "", _REQUEST_FIELDS)
    request_id = _required_text(fields, "requestId", "", MAX_REQUEST_ID_CHARS)
    raw_events = fields.get("events")
    if raw_events is None or raw_events == []:
        raise InvalidRequest("events: is required (at least one event)")
    if not isinstance(raw_events, list):
        raise InvalidRequest(f"events: must be an array of Event, got {_kind(raw_events)}")
    return CheckedRequest(request_id, [check_event(i, e) for i, e in enumerate(raw_events)])


def check_event(index: int, raw: object) -> CheckedEvent:
    """Check one event of a request; ``index`` is its position, used in error messages."""
    if type(raw) is dict and raw.get("type") == ev.MESSAGE_CREATE:
        checked = _well_formed_message(raw)
        if checked is not None:
            return checked
    return _check_event(index, raw)


def _well_formed_message(raw: dict[str, Any]) -> CheckedEvent | None:
    """The common case, a plain valid ``message_create``, checked with fewer steps; None otherwise.

    Anything unusual (proto names, nulls, a failed rule) returns None and the full check runs,
    which names the problem. The field rules are still the ones of ``events.py``.
    """
    props = raw.get("properties")
    if not (
        _EVENT_FIELDS.keys() >= raw.keys() and type(props) is dict and _MESSAGE_MEMBERS.issuperset(props)
    ):
        return None
    member = props.get("messageProperties")
    event_id = raw.get("id")
    project_id = raw.get("projectId")
    if not (
        type(member) is dict
        and _MESSAGE_FAST_KEYS.issuperset(member)
        and type(event_id) is str
        and 0 < len(event_id) <= MAX_EVENT_ID_CHARS
        and type(project_id) is str
        and 0 < len(project_id) <= MAX_PROJECT_ID_CHARS
    ):
        return None
    index = member.get("messageIndexHint")
    role_name = member.get("messageRole")
    role = ROLE_NAMES.get(role_name) if type(role_name) is str else None
    create_time = raw.get("createTime")
    if role is None or type(index) is not int or not 0 < index <= ev.MAX_INT32:
        return None
    if create_time is not None and type(create_time) is not str:
        return None
    try:
        session_id = ev.check_id("session_id", member.get("sessionId"))
        content = ev.check_content(member.get("messageContent"))
        seconds = _timestamp(create_time, "", "createTime")
        custom = _custom_properties(props.get("customProperties"), "", "customProperties")
    except (ev.ValidationError, InvalidRequest):
        return None
    return CheckedEvent(
        id=event_id,
        type=ev.MESSAGE_CREATE,
        project_id=project_id,
        create_time=seconds,
        raw=raw,
        session_id=session_id,
        message_index=index,
        role=role,
        content=content,
        custom_properties=custom,
    )


def _check_event(index: int, raw: object) -> CheckedEvent:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{where}: must be an Event object, got {_kind(raw)}")
    fields = _fields(raw, where, _EVENT_FIELDS)
    event_id = _required_text(fields, "id", where, MAX_EVENT_ID_CHARS)
    kind = fields.get("type")
    if kind is None:
        raise InvalidRequest(f"{where}.type: is required")
    if not isinstance(kind, str) or kind not in ev.EVENT_TYPES:
        raise InvalidRequest(f"{where}.type: must be one of {sorted(ev.EVENT_TYPES)} (got {_show(kind)})")
    project_id = _required_text(fields, "projectId", where, MAX_PROJECT_ID_CHARS)
    create_time = _timestamp(fields.get("createTime"), where, "createTime")
    props_raw = fields.get("properties")
    if props_raw is None:
        raise InvalidRequest(f"{where}.properties: is required")
    if not isinstance(props_raw, dict):
        raise InvalidRequest(f"{where}.properties: must be an EventProperties object, got {_kind(props_raw)}")
    props_where = f"{where}.properties"
    props = _fields(props_raw, props_where, _PROPERTIES_FIELDS)
    members = [name for name in props if name != "customProperties"]
    expected = PROPERTIES_FOR_TYPE[kind]
    if members != [expected]:
        found = ", ".join(members) or "none"
        raise InvalidRequest(
            f"{props_where}: a {kind} event must carry exactly one properties member,"
            f" {expected} (found: {found})"
        )
    member = props[expected]
    member_where = f"{props_where}.{expected}"
    if not isinstance(member, dict):
        raise InvalidRequest(f"{member_where}: must be an object, got {_kind(member)}")
    custom = _custom_properties(props.get("customProperties"), props_where, "customProperties")
    values = _TYPE_CHECKS[kind](member, member_where)
    return CheckedEvent(
        id=event_id,
        type=kind,
        project_id=project_id,
        create_time=create_time,
        raw=raw,
        custom_properties=custom,
        **values,
    )


# --- per type -------------------------------------------------------------------------------------------


def _session_open(member: dict[str, Any], where: str) -> dict[str, Any]:
    f = _fields(member, where, _SESSION_FIELDS)
    assistant = f.get("assistantId")
    return {
        "session_id": _rule(where, "sessionId", _id("session_id"), f.get("sessionId"), required=True),
        "user_id": _rule(where, "userId", _id("user_id"), f.get("userId"), required=True),
        # The official SDK always sends "DEFAULT"; proto3 cannot tell an empty string from absent.
        "assistant_id": ev.DEFAULT_ASSISTANT_ID
        if assistant is None
        else _rule(where, "assistantId", _id("assistant_id"), assistant, required=True),
        "session_title": _optional_text(f.get("sessionTitle"), where, "sessionTitle"),
        "session_start_time": _timestamp(f.get("sessionStartTime"), where, "sessionStartTime"),
    }


def _session_close(member: dict[str, Any], where: str) -> dict[str, Any]:
    f = _fields(member, where, _SESSION_FIELDS)
    extra = [
        name
        for name in ("sessionTitle", "sessionStartTime", "userId", "assistantId")
        if f.get(name) is not None
    ]
    if extra:
        raise InvalidRequest(f"{where}.{extra[0]}: a session_close event carries sessionId only")
    return {"session_id": _rule(where, "sessionId", _id("session_id"), f.get("sessionId"), required=True)}


def _message_create(member: dict[str, Any], where: str) -> dict[str, Any]:
    f = _fields(member, where, _MESSAGE_FIELDS)
    _optional_text(f.get("messageIdHint"), where, "messageIdHint")
    role_name = _enum(f.get("messageRole"), where, "messageRole", ROLE_NUMBERS)
    if role_name not in ROLE_NAMES:
        raise InvalidRequest(
            f"{where}.messageRole: must be ROLE_USER or ROLE_ASSISTANT (got {_show(role_name)})"
        )
    return {
        "session_id": _rule(where, "sessionId", _id("session_id"), f.get("sessionId"), required=True),
        "message_index": _index(f.get("messageIndexHint"), where, "messageIndexHint"),
        "role": ev.check_role(ROLE_NAMES[role_name]),
        "content": _rule(where, "messageContent", ev.check_content, f.get("messageContent"), required=True),
        "message_create_time": _timestamp(f.get("messageCreateTime"), where, "messageCreateTime"),
    }


def _user_recognize(member: dict[str, Any], where: str) -> dict[str, Any]:
    f = _fields(member, where, _USER_FIELDS)
    country = state = city = None
    location = f.get("userLocation")
    if location is not None:
        loc_where = f"{where}.userLocation"
        if not isinstance(location, dict):
            raise InvalidRequest(f"{loc_where}: must be a Location object, got {_kind(location)}")
        loc = _fields(location, loc_where, _LOCATION_FIELDS)
        country = _rule(loc_where, "countryCode", ev.check_country_code, loc.get("countryCode"))
        state = _optional_text(loc.get("state"), loc_where, "state")
        city = _optional_text(loc.get("city"), loc_where, "city")
    return {
        "user_id": _rule(where, "userId", _id("user_id"), f.get("userId"), required=True),
        "email": _rule(where, "userEmail", _EMAIL_RULE, f.get("userEmail")),
        "ip": _rule(where, "userIp", ev.check_ip, f.get("userIp")),
        "country_code": country,
        "state": state,
        "city": city,
        "user_create_time": _timestamp(f.get("userCreateTime"), where, "userCreateTime"),
        "display_name": _rule(where, "userDisplayName", _DISPLAY_NAME_RULE, f.get("userDisplayName")),
    }


def _feedback_create(member: dict[str, Any], where: str) -> dict[str, Any]:
    f = _fields(member, where, _FEEDBACK_FIELDS)
    target_name = _enum(f.get("feedbackTarget"), where, "feedbackTarget", TARGET_NUMBERS)
    if target_name not in TARGET_NAMES:
        raise InvalidRequest(
            f"{where}.feedbackTarget: must be TARGET_SESSION or TARGET_MESSAGE (got {_show(target_name)})"
        )
    target = TARGET_NAMES[target_name]
    index = None
    if target == "message":
        index = _index(f.get("messageIndexHint"), where, "messageIndexHint")
    elif f.get("messageIndexHint") not in (None, 0):
        raise InvalidRequest(
            f"{where}.messageIndexHint: must be absent when feedbackTarget is TARGET_SESSION"
        )
    return {
        "session_id": _rule(where, "sessionId", _id("session_id"), f.get("sessionId"), required=True),
        "message_index": index,
        "feedback_target": target,
        "feedback_type": _rule(where, "type", ev.check_feedback_type, f.get("type"), required=True),
    }


_TYPE_CHECKS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    ev.SESSION_OPEN: _session_open,
    ev.SESSION_CLOSE: _session_close,
    ev.MESSAGE_CREATE: _message_create,
    ev.USER_RECOGNIZE: _user_recognize,
    ev.FEEDBACK_CREATE: _feedback_create,
}


# --- the shared field rules, adapted to wire paths -------------------------------------------------------


def _rule(
    where: str, name: str, check: Callable[[object], _T], value: object, *, required: bool = False
) -> _T:
    """Run a rule from ``events.py``; report its failure under the wire path as well as the rule's name."""
    if required and value is None:
        raise InvalidRequest(f"{where}.{name}: is required")
    try:
        return check(value)
    except ev.ValidationError as exc:
        raise InvalidRequest(f"{where}.{name}: {exc.field} {exc.rule} (got {exc.value})") from None
    except TypeError:  # a rule that looks an unhashable value up in a set (e.g. a list as feedback type)
        raise InvalidRequest(f"{where}.{name}: must be a string, got {_kind(value)}") from None


_EMAIL_RULE = partial(ev.check_optional_text, "email", max_chars=ev.MAX_EMAIL_CHARS)
_DISPLAY_NAME_RULE = partial(ev.check_optional_text, "display_name", max_chars=ev.MAX_DISPLAY_NAME_CHARS)
_ID_RULES = {name: partial(ev.check_id, name) for name in ("session_id", "user_id", "assistant_id")}


def _id(field: str) -> Callable[[object], str]:
    return _ID_RULES[field]


def _index(value: object, where: str, name: str) -> int:
    if type(value) is int and 0 < value <= ev.MAX_INT32:
        return value
    path = f"{where}.{name}"
    if value is None:
        raise InvalidRequest(f"{path}: is required (message_index)")
    # proto3 JSON allows an int32 as a decimal string.
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value):
        value = int(value)
    try:
        return ev.check_message_index(value)
    except ev.ValidationError as exc:
        raise InvalidRequest(f"{path}: {exc.field} {exc.rule} (got {exc.value})") from None


def _enum(value: object, where: str, name: str, numbers: Mapping[int, str]) -> str:
    if type(value) is str:
        return value
    path = f"{where}.{name}"
    if value is None:
        raise InvalidRequest(f"{path}: is required")
    if isinstance(value, int) and not isinstance(value, bool):
        return numbers.get(value, str(value))  # proto3 JSON accepts enum numbers too
    if not isinstance(value, str):
        raise InvalidRequest(f"{path}: must be an enum name string, got {_kind(value)}")
    return value


def _required_text(fields: Mapping[str, Any], name: str, where: str, max_chars: int) -> str:
    path = f"{where}.{name}" if where else name
    value = fields.get(name)
    if value is None or value == "":
        raise InvalidRequest(f"{path}: is required")
    if not isinstance(value, str):
        raise InvalidRequest(f"{path}: must be a string, got {_kind(value)}")
    if len(value) > max_chars:
        raise InvalidRequest(f"{path}: must be at most {max_chars} characters (got {len(value)})")
    return value


def _optional_text(value: object, where: str, name: str) -> str | None:
    if value is None:
        return None
    path = f"{where}.{name}"
    if not isinstance(value, str):
        raise InvalidRequest(f"{path}: must be a string, got {_kind(value)}")
    if len(value) > MAX_FREE_TEXT_CHARS:
        raise InvalidRequest(f"{path}: must be at most {MAX_FREE_TEXT_CHARS} characters (got {len(value)})")
    return value


def _custom_properties(value: object, where: str, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    path = f"{where}.{name}"
    if not isinstance(value, dict):
        raise InvalidRequest(f"{path}: must be an object of {{key: {{stringValue}}}}, got {_kind(value)}")
    flat: dict[str, str] = {}
    for key, entry in value.items():
        entry_path = f"{path}[{key!r}]"
        if not isinstance(entry, dict):
            raise InvalidRequest(
                f"{entry_path}: must be a CustomPropertyValue object {{stringValue}}, got {_kind(entry)}"
            )
        entry_fields = _fields(entry, entry_path, _CUSTOM_VALUE_FIELDS)
        text = entry_fields.get("stringValue")
        if text is None:
            text = ""  # proto3 JSON omits an empty string_value
        if not isinstance(text, str):
            raise InvalidRequest(f"{entry_path}.stringValue: must be a string, got {_kind(text)}")
        flat[key] = text
    try:
        return ev.check_custom_properties(flat)
    except ev.ValidationError as exc:
        raise InvalidRequest(f"{path}: {exc.field} {exc.rule} (got {exc.value})") from None


def _fields(obj: dict[str, Any], where: str, names: dict[str, str]) -> dict[str, Any]:
    """The object's fields by JSON name; the proto name is accepted too, anything else is rejected.

    A ``null`` value, or ``""`` for an optional string field, means the field is absent (proto3 JSON).
    """
    if names.keys() >= obj.keys():  # the common case: JSON names only
        return {
            key: value
            for key, value in obj.items()
            if value is not None and (value != "" or key not in _OPTIONAL_STRING_FIELDS)
        }
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in names:
            name = key
        else:
            name = _PROTO_TO_JSON.get(key, "")
            if not name or names.get(name) != key:
                known = ", ".join(names)
                prefix = f"{where}." if where else ""
                raise InvalidRequest(f"{prefix}{key}: unknown field (expected one of: {known})")
        if name in out:
            raise InvalidRequest(f"{where}.{name}: given twice (as {name} and {names[name]})")
        if value is not None and (value != "" or name not in _OPTIONAL_STRING_FIELDS):
            out[name] = value
    return out


def _timestamp(value: object, where: str, name: str) -> float | None:
    """An RFC 3339 timestamp (proto3 JSON ``google.protobuf.Timestamp``) as POSIX seconds."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.{name}: must be an RFC 3339 timestamp string, got {_kind(value)}")
    # Fast path for what SDKs send, "YYYY-MM-DDTHH:MM:SS[.fraction]Z": events of a batch share
    # their seconds, so the date arithmetic is cached per second.
    if len(value) >= 20 and value[-1] == "Z" and value[10] == "T":
        base = _SECONDS_CACHE.get(value[:19])
        fraction = value[19:-1]
        if base is not None and (
            not fraction
            or (
                fraction[0] == "."
                and 1 < len(fraction) <= 10
                and fraction[1:].isdigit()
                and fraction[1:].isascii()
            )
        ):
            return base + int(fraction[1:]) / 10 ** (len(fraction) - 1) if fraction else base
    seconds = _parse_rfc3339(value, f"{where}.{name}")
    if len(value) >= 20 and value[-1] == "Z" and value[10] == "T" and value[19] in ".Z":
        if len(_SECONDS_CACHE) > 4096:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[value[:19]] = float(math.floor(seconds))
    return seconds


_SECONDS_CACHE: dict[str, float] = {}


def _parse_rfc3339(value: str, path: str) -> float:
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise InvalidRequest(
            f"{path}: must be an RFC 3339 timestamp such as '2026-11-26T13:58:08.123Z' (got {_show(value)})"
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(0) if zulu else timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone(offset)
        )
    except ValueError as exc:
        raise InvalidRequest(f"{path}: not a valid date/time ({exc}) (got {_show(value)})") from None
    seconds = (moment - _EPOCH).total_seconds()
    if fraction:
        seconds += int(fraction) / 10 ** len(fraction)
    return seconds


def _reject_surrogates(value: object, path: str) -> None:
    """Find the string that holds a lone surrogate (from a ``\\udXXX`` escape) and name it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(
                f"{path or 'body'}: string is not valid Unicode (lone surrogate escape such as \\ud800)"
            ) from None
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _reject_surrogates(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_surrogates(key, f"{path}.<key>" if path else "<key>")
            _reject_surrogates(item, f"{path}.{key}" if path else str(key))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
