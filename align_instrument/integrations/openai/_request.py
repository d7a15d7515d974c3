"""What a captured request says: endpoint kind, conversation items, user, model, chain ids.

Reads the request options the SDK built (``FinalRequestOptions.json_data``); never modifies them.
Only chat completions and Responses ``create`` requests are captured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ...sessions.messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem, tool_call_key

CHAT = "chat"
RESPONSES = "responses"

_PLACEHOLDERS = {
    "image_url": "[image]",
    "input_image": "[image]",
    "input_audio": "[audio]",
    "audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
}


class RequestInfo(NamedTuple):
    """The parts of a request the engine needs."""

    kind: str
    items: list[ChatItem]
    model: str | None
    user_id: str | None
    session_id: str | None
    previous_response_id: str | None
    delta: bool


def endpoint_kind(options: Any) -> str | None:
    """``CHAT``, ``RESPONSES`` or None (anything else is never captured)."""
    if getattr(options, "method", "").lower() != "post":
        return None
    url = getattr(options, "url", "")
    if not isinstance(url, str):
        return None
    if url.endswith("/chat/completions"):
        return CHAT
    if url.endswith("/responses"):
        return RESPONSES
    return None


def read_request(kind: str, body: Mapping[str, Any]) -> RequestInfo:
    """Extract a :class:`RequestInfo` from a request body of the given kind."""
    model = body.get("model")
    user = body.get("user") or body.get("safety_identifier")
    user_id = user if isinstance(user, str) and user else None
    model_name = model if isinstance(model, str) else None
    if kind == CHAT:
        return RequestInfo(
            kind, chat_items(body.get("messages") or ()), model_name, user_id, None, None, False
        )
    conversation = body.get("conversation")
    if isinstance(conversation, Mapping):
        conversation = conversation.get("id")
    session_id = conversation if isinstance(conversation, str) and conversation else None
    previous = body.get("previous_response_id")
    previous_id = previous if isinstance(previous, str) and previous else None
    return RequestInfo(
        kind,
        response_input_items(body.get("input")),
        model_name,
        user_id,
        session_id,
        previous_id,
        bool(session_id or previous_id),
    )


def _get(obj: Any, name: str) -> Any:
    """A field of a dict or of a model object (apps append SDK message objects to their history)."""
    if type(obj) is dict:
        return obj.get(name)
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def content_text(content: Any) -> str:
    """The text of a message content: a string, or parts whose text parts are joined and whose
    other parts become a short placeholder such as ``[image]``."""
    if type(content) is str:
        return content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable):
        texts: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            text = _get(part, "text")
            if isinstance(text, str):
                texts.append(text)
                continue
            refusal = _get(part, "refusal")
            if isinstance(refusal, str):
                texts.append(refusal)
                continue
            part_type = _get(part, "type")
            texts.append(
                _PLACEHOLDERS.get(part_type, f"[{part_type}]") if isinstance(part_type, str) else "[part]"
            )
        return "\n".join(t for t in texts if t)
    return ""


def chat_items(messages: Iterable[Any]) -> list[ChatItem]:
    """Chat completions ``messages`` as canonical items (system/developer left out)."""
    items: list[ChatItem] = []
    for message in messages:
        if type(message) is dict and type(message.get("content")) is str and "tool_calls" not in message:
            # The common case, kept cheap: a plain dict with text content.
            role = message.get("role")
            if role == "user":
                items.append(ChatItem(USER, message["content"]))
                continue
            if role == "assistant" and message["content"] and "function_call" not in message:
                items.append(ChatItem(ASSISTANT, message["content"]))
                continue
        role = _get(message, "role")
        if role == "user":
            items.append(ChatItem(USER, content_text(_get(message, "content"))))
        elif role == "assistant":
            text = content_text(_get(message, "content"))
            if not text:
                refusal = _get(message, "refusal")
                text = refusal if isinstance(refusal, str) else ""
            if text:
                items.append(ChatItem(ASSISTANT, text))
            calls = _get(message, "tool_calls")
            if calls:
                items.append(ChatItem(TOOL_CALLS, tool_call_key(str(_get(c, "id")) for c in calls)))
            elif _get(message, "function_call") is not None:
                items.append(ChatItem(TOOL_CALLS, str(_get(_get(message, "function_call"), "name"))))
        elif role == "tool":
            items.append(ChatItem(TOOL_RESULT, str(_get(message, "tool_call_id"))))
        elif role == "function":
            items.append(ChatItem(TOOL_RESULT, str(_get(message, "name"))))
    return items


def response_input_items(value: Any) -> list[ChatItem]:
    """Responses ``input`` (a string or a list of items) as canonical items."""
    if isinstance(value, str):
        return [ChatItem(USER, value)]
    if value is None or not isinstance(value, Iterable):
        return []
    items: list[ChatItem] = []
    pending_calls: list[str] = []

    def flush_calls() -> None:
        if pending_calls:
            items.append(ChatItem(TOOL_CALLS, tool_call_key(pending_calls)))
            pending_calls.clear()

    for item in value:
        item_type = _get(item, "type")
        if item_type == "function_call" or (isinstance(item_type, str) and item_type.endswith("_call")):
            pending_calls.append(str(_get(item, "call_id") or _get(item, "id")))
            continue
        flush_calls()
        role = _get(item, "role")
        if item_type in (None, "message") and role in ("user", "assistant"):
            text = content_text(_get(item, "content"))
            items.append(ChatItem(USER if role == "user" else ASSISTANT, text))
        elif isinstance(item_type, str) and item_type.endswith("_call_output"):
            items.append(ChatItem(TOOL_RESULT, str(_get(item, "call_id"))))
    flush_calls()
    return items
