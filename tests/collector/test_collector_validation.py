"""Whatever JSON a field holds, the validator answers with InvalidRequest, never another exception."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from collector_helpers import (
    identify,
    message,
    message_feedback,
    request_body,
    session_close,
    session_feedback,
    session_open,
)

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
