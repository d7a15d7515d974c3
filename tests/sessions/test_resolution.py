"""Resolution: the keys a request and a reply produce, and the bound on the work per request."""

from __future__ import annotations

from align_instrument.sessions import messages
from align_instrument.sessions.messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem, Keyer
from align_instrument.sessions.resolution import MAX_ANCHORS, plan_request, reply_keys


def plan(items: list[ChatItem], namespace: str = "i\x1fp\x1fanonymous", **kwargs: object):  # type: ignore[no-untyped-def]
    keyer = Keyer(namespace)
    options: dict[str, object] = {
        "keyer": keyer,
        "turn_keyer": keyer,
        "session_id": None,
        "response_key": None,
        "new_session_id": "new",
        "user_id": "anonymous",
        "regenerate_first": False,
    }
    options.update(kwargs)
    return plan_request(items, **options)  # type: ignore[arg-type]


def long_history(turns: int) -> list[ChatItem]:
    items: list[ChatItem] = []
    for i in range(turns):
        items += [ChatItem(USER, f"question {i}"), ChatItem(ASSISTANT, f"answer {i}")]
    return [*items, ChatItem(USER, "the new question")]


def test_work_per_request_does_not_grow_with_the_history() -> None:
    messages._memo.clear()
    request = plan(long_history(2000))
    assert len(messages._memo) < 20  # the items near the newest outputs, not 4,001
    assert request.plan.history_count == 4001
    assert request.plan.anchors[0].new_count == 1 and len(request.plan.anchors) == MAX_ANCHORS


def test_a_reply_registers_the_keys_its_continuation_looks_up() -> None:
    first = plan([ChatItem(USER, "hi"), ChatItem(ASSISTANT, "hello"), ChatItem(USER, "weather?")])
    registered = set(reply_keys(first, [ChatItem(ASSISTANT, "It is sunny.")]))
    # the app trims everything but the reply and the new question, or rewrites the question (RAG)
    trimmed = plan([ChatItem(ASSISTANT, "It is sunny."), ChatItem(USER, "thanks")])
    wrapped = plan(
        [ChatItem(USER, "docs: ... weather?"), ChatItem(ASSISTANT, "It is sunny."), ChatItem(USER, "ok")]
    )
    whole = plan([ChatItem(USER, "hi"), ChatItem(ASSISTANT, "hello"), ChatItem(USER, "weather?"),
                  ChatItem(ASSISTANT, "It is sunny."), ChatItem(USER, "thanks")])  # fmt: skip
    assert set(trimmed.plan.anchors[0].keys) & registered
    assert set(wrapped.plan.anchors[0].keys) & registered
    assert set(whole.plan.anchors[0].keys) <= registered  # every key: the strongest evidence matches
    assert len(whole.plan.anchors[0].keys) == 3


def test_keys_never_cross_namespaces_and_tool_calls_are_outputs() -> None:
    items = [ChatItem(USER, "weather?"), ChatItem(TOOL_CALLS, "call_1"), ChatItem(TOOL_RESULT, "call_1")]
    one, other = plan(items, "i\x1fp\x1fuser-1"), plan(items, "i\x1fp\x1fuser-2")
    assert one.plan.anchors[0].keys and not set(one.plan.anchors[0].keys) & set(other.plan.anchors[0].keys)
    assert one.plan.anchors[0].new_count == 0  # a tool result is threading only
    first_turn = plan([ChatItem(USER, "a"), ChatItem(USER, "b")])
    assert not first_turn.plan.anchors and first_turn.plan.opening_count == 2
