"""A decoder of the binary ``application/proto`` CollectEventsRequest, without a protobuf dependency.

Apps still on the official ``alignai`` SDK send binary protobuf; this turns such a body into the
proto3 JSON form of the same request, so that one validator (:mod:`.validation`) checks both
encodings and the stored "as received" event looks the same whichever encoding was used.

Only the wire format needed by the ``ingestion.v1alpha`` schema is implemented: varints,
length-delimited fields (strings, embedded messages, map entries) and skipping of fixed-width
values. Proto3 semantics are kept where they matter: a scalar given twice keeps the last value,
an embedded message given twice is merged, default values (``""``, ``0``) read as absent.
Unknown field numbers are rejected, like unknown JSON fields, so the collector reports what
the contract does not name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .validation import ROLE_NUMBERS, TARGET_NUMBERS

# Wire types.
VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5

MIN_TIMESTAMP_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_DEPTH = 8


class ProtobufDecodeError(ValueError):
    """The body is not a well-formed CollectEventsRequest; the message names where it broke."""


class _Field:
    """One field of a message: its JSON name and how to read it."""

    __slots__ = ("bits", "enum_names", "json_name", "kind", "message", "repeated", "wire_type")

    def __init__(
        self,
        json_name: str,
        kind: str,  # "string", "int32", "int64", "enum", "message", "map"
        message: str = "",  # the message type of "message" and of a map's values
        repeated: bool = False,
        enum_names: dict[int, str] | None = None,
    ) -> None:
        self.json_name = json_name
        self.kind = kind
        self.message = message
        self.repeated = repeated
        self.enum_names = enum_names
        self.wire_type = VARINT if kind in ("int32", "int64", "enum") else LENGTH_DELIMITED
        self.bits = 64 if kind == "int64" else 32


_SCHEMA: dict[str, dict[int, _Field]] = {
    "CollectEventsRequest": {
        1: _Field("requestId", "string"),
        2: _Field("events", "message", "Event", repeated=True),
    },
    "Event": {
        1: _Field("id", "string"),
        2: _Field("type", "string"),
        3: _Field("createTime", "message", "Timestamp"),
        4: _Field("properties", "message", "EventProperties"),
        5: _Field("projectId", "string"),
    },
    "EventProperties": {
        1: _Field("sessionProperties", "message", "SessionProperties"),
        2: _Field("messageProperties", "message", "MessageProperties"),
        3: _Field("userProperties", "message", "UserProperties"),
        4: _Field("feedbackProperties", "message", "FeedbackProperties"),
        10: _Field("customProperties", "map", "CustomPropertyValue"),
    },
    "SessionProperties": {
        1: _Field("sessionId", "string"),
        2: _Field("sessionTitle", "string"),
        3: _Field("sessionStartTime", "message", "Timestamp"),
        4: _Field("userId", "string"),
        5: _Field("assistantId", "string"),
    },
    "MessageProperties": {
        1: _Field("sessionId", "string"),
        2: _Field("messageIdHint", "string"),
        3: _Field("messageIndexHint", "int32"),
        4: _Field("messageRole", "enum", enum_names=ROLE_NUMBERS),
        5: _Field("messageContent", "string"),
        6: _Field("messageCreateTime", "message", "Timestamp"),
    },
    "UserProperties": {
        1: _Field("userId", "string"),
        2: _Field("userEmail", "string"),
        3: _Field("userIp", "string"),
        4: _Field("userLocation", "message", "Location"),
        5: _Field("userCreateTime", "message", "Timestamp"),
        6: _Field("userDisplayName", "string"),
    },
    "Location": {
        1: _Field("countryCode", "string"),
        2: _Field("state", "string"),
        3: _Field("city", "string"),
    },
    "FeedbackProperties": {
        1: _Field("sessionId", "string"),
        2: _Field("messageIndexHint", "int32"),
        3: _Field("feedbackTarget", "enum", enum_names=TARGET_NUMBERS),
        4: _Field("type", "string"),
    },
    "CustomPropertyValue": {1: _Field("stringValue", "string")},
    "Timestamp": {1: _Field("seconds", "int64"), 2: _Field("nanos", "int32")},
    "MapEntry": {1: _Field("key", "string"), 2: _Field("value", "message", "CustomPropertyValue")},
}


def decode_collect_events_request(body: bytes) -> dict[str, Any]:
    """Decode a binary CollectEventsRequest into its proto3 JSON form.

    Args:
        body: the request body, already decompressed.

    Returns:
        ``{"requestId": ..., "events": [...]}`` with enums by name and timestamps as RFC 3339
        strings, ready for :func:`.validation.check_request`.

    Raises:
        ProtobufDecodeError: truncated data, a wrong wire type, an unknown field number,
            a string that is not UTF-8, or a timestamp out of range.

    Example:
        >>> decode_collect_events_request(request_pb.SerializeToString())["requestId"]
        'b6c1...'
    """
    return _decode_message(memoryview(body), "CollectEventsRequest", "", 0)


def _decode_message(data: memoryview, type_name: str, path: str, depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ProtobufDecodeError(f"{path or type_name}: messages nested too deeply")
    schema = _SCHEMA[type_name]
    out: dict[str, Any] = {}
    # Bytes of the embedded messages seen so far, for the rare message given twice: protobuf
    # merges them, which is what decoding their concatenation does.
    message_bytes: dict[str, memoryview] = {}
    pos = 0
    end = len(data)
    while pos < end:
        key = data[pos]
        if key < 0x80:  # field numbers below 16: one byte
            pos += 1
        else:
            key, pos = _varint(data, pos, path or type_name)
        number, wire_type = key >> 3, key & 7
        field = schema.get(number)
        if field is None:
            raise ProtobufDecodeError(f"{path or type_name}: unknown field number {number} in {type_name}")
        if wire_type != field.wire_type:
            raise ProtobufDecodeError(
                f"{_join(path, field.json_name)}: wire type {wire_type}, expected {field.wire_type}"
                f" for a {field.kind} field"
            )
        name = field.json_name
        if wire_type == VARINT:
            raw, pos = _varint(data, pos, _join(path, name))
            value = _signed(raw, field.bits)
            if not value:
                out.pop(name, None)  # proto3: the default value reads as absent
            elif field.enum_names is not None:
                out[name] = field.enum_names.get(value, value)
            else:
                out[name] = value
            continue
        length = data[pos] if pos < end else 0x80
        if length < 0x80:
            pos += 1
        else:
            length, pos = _varint(data, pos, _join(path, name))
        if pos + length > end:
            raise ProtobufDecodeError(f"{_join(path, name)}: truncated (length {length} runs past the end)")
        chunk = data[pos : pos + length]
        pos += length
        kind = field.kind
        if kind == "string":
            try:
                text = str(chunk, "utf-8")
            except UnicodeDecodeError as exc:
                raise ProtobufDecodeError(
                    f"{_join(path, name)}: string is not valid UTF-8 ({exc.reason})"
                ) from None
            if text:
                out[name] = text
            else:
                out.pop(name, None)
        elif kind == "map":
            entry = _decode_message(chunk, "MapEntry", _join(path, name), depth + 1)
            entries = out.setdefault(name, {})
            entries[entry.get("key", "")] = entry.get("value", {})
        elif field.repeated:
            items = out.setdefault(name, [])
            items.append(
                _decode_message(chunk, field.message, f"{_join(path, name)}[{len(items)}]", depth + 1)
            )
        else:
            seen = message_bytes.get(name)
            whole = chunk if seen is None else memoryview(bytes(seen) + bytes(chunk))
            message_bytes[name] = whole
            decoded = _decode_message(whole, field.message, _join(path, name), depth + 1)
            convert = _CONVERTERS.get(field.message)
            out[name] = decoded if convert is None else convert(decoded, _join(path, name))
    return out


def _timestamp_to_rfc3339(fields: dict[str, Any], path: str) -> str:
    """``google.protobuf.Timestamp`` as proto3 JSON does it: UTC, ``Z``, 0/3/6/9 fraction digits."""
    seconds = int(fields.get("seconds", 0))
    nanos = int(fields.get("nanos", 0))
    if not MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS:
        raise ProtobufDecodeError(f"{path}: seconds {seconds} out of the Timestamp range (years 1-9999)")
    if not 0 <= nanos <= 999_999_999:
        raise ProtobufDecodeError(f"{path}: nanos {nanos} out of range 0..999999999")
    text = _SECOND_TEXT.get(seconds)
    if text is None:  # events of a batch share their seconds
        days, rest = divmod(seconds, 86_400)
        year, month, day = _civil_from_days(days)
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        if len(_SECOND_TEXT) > 4096:
            _SECOND_TEXT.clear()
        _SECOND_TEXT[seconds] = text
    if nanos:
        if nanos % 1_000_000 == 0:
            text += f".{nanos // 1_000_000:03d}"
        elif nanos % 1000 == 0:
            text += f".{nanos // 1000:06d}"
        else:
            text += f".{nanos:09d}"
    return text + "Z"


_SECOND_TEXT: dict[int, str] = {}


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm, any year)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def _identity(fields: dict[str, Any], path: str) -> Any:
    return fields


_CONVERTERS: dict[str, Callable[[dict[str, Any], str], Any]] = {"Timestamp": _timestamp_to_rfc3339}


def _varint(data: memoryview, pos: int, path: str) -> tuple[int, int]:
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise ProtobufDecodeError(f"{path}: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufDecodeError(f"{path}: varint longer than 10 bytes")


def _signed(value: int, bits: int) -> int:
    """Two's complement of the low ``bits`` bits: int32 and enums are sign-extended to 64 on the wire."""
    value &= (1 << bits) - 1
    if value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
