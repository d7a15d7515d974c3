"""What a captured Messages API request says: conversation items, user, model.

Reads the request options the SDK built (``FinalRequestOptions.json_data``); never modifies them.
Only ``POST .../messages`` is captured (not ``count_tokens`` nor batches). The ``system``
parameter is left out, like system messages. Content blocks: ``text`` is logged; ``tool_use`` /
``tool_result`` become threading-only items keyed by the ``tool_use`` id; images and documents
become a short placeholder such as ``[image]``; thinking and server-tool blocks are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ...sessions.messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem, tool_call_key

PLACEHOLDERS = {
    "image": "[image]",
    "document": "[document]",
    "search_result": "[search result]",
    "container_upload": "[file]",
}


class RequestInfo(NamedTuple):
    """The parts of a request the engine needs."""

    items: list[ChatItem]
    model: str | None
    user_id: str | None


def is_messages_call(options: Any) -> bool:
    """Whether the request options are a Messages API ``create`` (plain, streamed or beta)."""
    if getattr(options, "method", "").lower() != "post":
        return False
    url = getattr(options, "url", "")
    return isinstance(url, str) and url.split("?", 1)[0].endswith("/messages")


def read_request(body: Mapping[str, Any]) -> RequestInfo:
    """Extract a :class:`RequestInfo` from a Messages API request body."""
    model = body.get("model")
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    return RequestInfo(
        message_items(body.get("messages") or ()),
        model if isinstance(model, str) else None,
        user if isinstance(user, str) and user else None,
    )


def get(obj: Any, name: str) -> Any:
    """A field of a dict or of an SDK model (apps append ``response.content`` blocks to their history)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def block_texts(content: Any) -> Iterable[tuple[str, str]]:
    """``(type, text)`` of each content block: the text of ``text`` blocks, the placeholder of
    images and documents, the ``tool_use`` / ``tool_result`` id; other blocks are skipped."""
    if isinstance(content, str):
        yield "text", content
        return
    if content is None or not isinstance(content, Iterable):
        return
    for block in content:
        if isinstance(block, str):
            yield "text", block
            continue
        kind = get(block, "type")
        if kind == "text":
            text = get(block, "text")
            yield "text", text if isinstance(text, str) else ""
        elif kind == "tool_use":
            yield "tool_use", str(get(block, "id"))
        elif kind == "tool_result":
            yield "tool_result", str(get(block, "tool_use_id"))
        elif kind in PLACEHOLDERS:
            yield "text", PLACEHOLDERS[kind]


def message_items(messages: Iterable[Any]) -> list[ChatItem]:
    """Messages API ``messages`` as canonical items, in order."""
    items: list[ChatItem] = []
    for message in messages:
        role = get(message, "role")
        content = get(message, "content")
        if type(content) is str:  # the common case, kept cheap
            if role == "user" or (role == "assistant" and content):
                items.append(ChatItem(USER if role == "user" else ASSISTANT, content))
            continue
        texts: list[str] = []
        calls: list[str] = []
        for kind, text in block_texts(content):
            if kind == "text":
                texts.append(text)
            elif kind == "tool_use":
                calls.append(text)
            else:
                items.append(ChatItem(TOOL_RESULT, text))
        if role == "user":
            if texts:
                items.append(ChatItem(USER, "\n".join(t for t in texts if t)))
        elif role == "assistant":
            text = "".join(texts)  # as the reply was read: text blocks joined, like get_final_text()
            if text:
                items.append(ChatItem(ASSISTANT, text))
            if calls:
                items.append(ChatItem(TOOL_CALLS, tool_call_key(calls)))
    return items
