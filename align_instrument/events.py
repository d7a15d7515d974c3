"""Event building and validation: every field rule of the Align wire contract.

The checks run on the caller's thread, so they are written for speed: plain type and
length tests first, regexes and table look-ups only for the fields that need them.
The same checks are used by the local collector on what it receives.

An accepted call becomes an :class:`Event`, a compact tuple of already-validated
Python values. Turning it into Connect JSON is the worker's job (see ``wire.py``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

ROLE_USER = "user"
"""``role`` of a message the end user wrote (``create_message(..., role=ROLE_USER, ...)``)."""
ROLE_ASSISTANT = "assistant"
"""``role`` of a message the assistant answered."""
FEEDBACK_THUMBS_UP = "thumbs_up"
"""``feedback_type`` of a positive rating (``create_message_feedback(s, i, FEEDBACK_THUMBS_UP)``)."""
FEEDBACK_THUMBS_DOWN = "thumbs_down"
"""``feedback_type`` of a negative rating."""
DEFAULT_ASSISTANT_ID = "DEFAULT"

ROLES = frozenset({ROLE_USER, ROLE_ASSISTANT})
FEEDBACK_TYPES = frozenset({FEEDBACK_THUMBS_UP, FEEDBACK_THUMBS_DOWN})

# Event types on the wire.
USER_RECOGNIZE = "user_recognize"
SESSION_OPEN = "session_open"
SESSION_CLOSE = "session_close"
MESSAGE_CREATE = "message_create"
FEEDBACK_CREATE = "feedback_create"
EVENT_TYPES = frozenset({USER_RECOGNIZE, SESSION_OPEN, SESSION_CLOSE, MESSAGE_CREATE, FEEDBACK_CREATE})

MAX_ID_CHARS = 64
MAX_DISPLAY_NAME_CHARS = 64
MAX_EMAIL_CHARS = 256
MAX_CUSTOM_PROPERTIES = 10
MAX_CUSTOM_VALUE_CHARS = 256
MAX_INT32 = 2**31 - 1
CUSTOM_KEY_PATTERN = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,63}")

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 - a table reads better as text
)

CustomProperties = Mapping[str, "str | int | float | bool"]


class ValidationError(ValueError):
    """A call's argument breaks a field rule. Nothing of that call was sent.

    ``field``, ``rule`` and ``value`` (truncated) say what was wrong.
    """

    def __init__(self, field: str, rule: str, value: object) -> None:
        self.field = field
        self.rule = rule
        self.value = _preview(value)
        super().__init__(f"{field} {rule} (got {self.value})")


def _preview(value: object, limit: int = 40) -> str:
    text = repr(value)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(value) if isinstance(value, (str, bytes)) else len(text)} chars)"
    return text


# --- field checks ---------------------------------------------------------------------------------------


def encodable(text: str) -> str:
    """``text`` made encodable as UTF-8: an unpaired surrogate (half an emoji, as JavaScript front
    ends cut strings by UTF-16 units) becomes U+FFFD and a surrogate pair its character, as UTF-8
    JSON encoders do. Else one such string would fail in the delivery worker, far from the call.

    Plain text, nearly all of it, costs one ``isascii()`` (O(1)) or one ``encode``.
    """
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def check_id(field: str, value: object) -> str:
    """A required id: a non-empty string of at most 64 characters."""
    if type(value) is not str:
        if isinstance(value, str):
            value = str(value)
        else:
            raise ValidationError(field, "must be a string", value)
    if not value:
        raise ValidationError(field, "is required (empty string)", value)
    value = encodable(value)
    if len(value) > MAX_ID_CHARS:
        raise ValidationError(field, f"must be at most {MAX_ID_CHARS} characters", value)
    return value


def check_optional_text(field: str, value: object, max_chars: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string", value)
    value = encodable(str(value))
    if len(value) > max_chars:
        raise ValidationError(field, f"must be at most {max_chars} characters", value)
    return value


def check_ip(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("ip", "must be a string holding an IPv4 address", value)
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValidationError("ip", "must be an IPv4 address", value) from None
    return str(value)


def check_country_code(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in COUNTRY_CODES:
        raise ValidationError("country_code", "must be an ISO 3166-1 alpha-2 code such as 'US'", value)
    return str(value)


def check_message_index(value: object) -> int:
    if type(value) is not int:
        # bool is an int subclass and float is not an index: both are mistakes worth naming.
        if isinstance(value, int) and not isinstance(value, bool):
            value = int(value)
        else:
            raise ValidationError("message_index", "must be a positive int", value)
    if value <= 0:
        raise ValidationError("message_index", "must be a positive int", value)
    if value > MAX_INT32:
        raise ValidationError("message_index", f"must be at most {MAX_INT32} (int32)", value)
    return value


def check_role(value: object) -> str:
    if not isinstance(value, str) or value not in ROLES:
        raise ValidationError("role", "must be 'user' or 'assistant'", value)
    return value


def check_feedback_type(value: object) -> str:
    if not isinstance(value, str) or value not in FEEDBACK_TYPES:
        raise ValidationError("feedback_type", "must be 'thumbs_up' or 'thumbs_down'", value)
    return value


def check_content(value: object) -> str:
    if type(value) is not str:
        if not isinstance(value, str):
            raise ValidationError("content", "must be a string", value)
        value = str(value)
    if not value:
        raise ValidationError("content", "is required (empty string)", value)
    return encodable(value)


def check_datetime(field: str, value: object) -> float | None:
    """A datetime as a POSIX timestamp; naive values are taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(field, "must be a datetime", value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


# Apps (and our instrumentations) use the same few keys over and over: skip the regex for them.
_MAX_REMEMBERED_KEYS = 4096
_valid_keys: set[str] = set()


def check_custom_properties(value: object) -> dict[str, str] | None:
    """At most 10 entries, keys matching the pattern, values strings of at most 256 characters.

    int, float and bool values are converted to strings (bools as ``true``/``false``).
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError("custom_properties", "must be a dict[str, str]", value)
    if len(value) > MAX_CUSTOM_PROPERTIES:
        raise ValidationError(
            "custom_properties", f"must have at most {MAX_CUSTOM_PROPERTIES} entries", list(value)
        )
    out: dict[str, str] = {}
    for key, raw in value.items():
        if key not in _valid_keys:
            if not isinstance(key, str) or CUSTOM_KEY_PATTERN.fullmatch(key) is None:
                raise ValidationError("custom_properties key", "must match ^[a-zA-Z][a-zA-Z0-9_]{0,63}$", key)
            if len(_valid_keys) < _MAX_REMEMBERED_KEYS:
                _valid_keys.add(key)
        if isinstance(raw, str):
            text = encodable(raw)
        elif isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, (int, float)):
            text = str(raw)
        else:
            raise ValidationError(f"custom_properties[{key!r}]", "must be a str, int, float or bool", raw)
        if len(text) > MAX_CUSTOM_VALUE_CHARS:
            raise ValidationError(
                f"custom_properties[{key!r}]", f"must be at most {MAX_CUSTOM_VALUE_CHARS} characters", text
            )
        out[key] = text
    return out


# --- validated events -----------------------------------------------------------------------------------


# One accepted call, validated, not yet encoded: (seq, type, create_time, fields, custom_properties, size).
# A plain tuple rather than a NamedTuple: building one is ~10x cheaper and it is built on the caller's
# thread. ``seq`` orders events within a client and, with the client's random prefix, forms the event id;
# ``fields`` holds the type's own values in the order ``wire.encode_event`` reads them; ``size`` is a
# rough encoded size in bytes for the buffer's byte bound.
Event = tuple[int, str, float, tuple[Any, ...], "dict[str, str] | None", int]
SEQ: Final = 0
SIZE: Final = 5

EVENT_OVERHEAD_BYTES = 240  # JSON keys, ids, timestamps and the tuple itself


def user_fields(
    user_id: object,
    display_name: object,
    email: object,
    ip: object,
    country_code: object,
    create_time: object,
) -> tuple[Any, ...]:
    return (
        check_id("user_id", user_id),
        check_optional_text("display_name", display_name, MAX_DISPLAY_NAME_CHARS),
        check_optional_text("email", email, MAX_EMAIL_CHARS),
        check_ip(ip),
        check_country_code(country_code),
        check_datetime("create_time", create_time),
    )


def optional_id(field: str, value: object) -> str | None:
    return None if value is None else check_id(field, value)


def custom_properties_size(props: dict[str, str] | None) -> int:
    if not props:
        return 0
    return sum(len(k) + len(v) + 24 for k, v in props.items())
