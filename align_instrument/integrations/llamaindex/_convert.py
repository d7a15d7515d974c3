"""LlamaIndex messages and responses as the engine's canonical items and reply fields.

Duck-typed over ``ChatMessage`` / ``ChatResponse`` (``role``, ``blocks`` / ``content``,
``additional_kwargs``), so it also reads messages of older llama-index-core releases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...sessions.messages import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem, tool_call_key

_ASSISTANT_ROLES = frozenset({"assistant", "chatbot", "model"})
_PLACEHOLDERS = {"image": "[image]", "audio": "[audio]", "video": "[video]", "document": "[document]"}


def _role(message: Any) -> str:
    role = getattr(message, "role", None)
    value = getattr(role, "value", role)
    return value if isinstance(value, str) else ""


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def message_text(message: Any) -> str:
    """The text of a message: its text blocks joined (as ``ChatMessage.content`` does), with a
    short placeholder for images, audio, video and documents."""
    blocks = getattr(message, "blocks", None)
    if not blocks:
        content = getattr(message, "content", None)
        return content if isinstance(content, str) else ""
    texts: list[str] = []
    for block in blocks:
        kind = getattr(block, "block_type", None)
        if kind == "text":
            texts.append(block.text)
        elif kind in _PLACEHOLDERS:
            texts.append(_PLACEHOLDERS[kind])
    return "\n".join(texts)


def tool_call_ids(message: Any) -> list[str]:
    """Ids of the tool calls an assistant message makes (``ToolCallBlock`` blocks, else the
    provider's ``additional_kwargs["tool_calls"]``)."""
    ids = [
        str(block.tool_call_id)
        for block in getattr(message, "blocks", None) or ()
        if getattr(block, "block_type", None) == "tool_call" and block.tool_call_id
    ]
    if ids:
        return ids
    kwargs = getattr(message, "additional_kwargs", None) or {}
    calls = kwargs.get("tool_calls") if isinstance(kwargs, Mapping) else None
    return [str(_field(call, "id")) for call in calls or () if _field(call, "id")]


def chat_items(messages: Iterable[Any]) -> list[ChatItem]:
    """An LLM call's ``messages`` as canonical items (system / developer messages left out)."""
    items: list[ChatItem] = []
    for message in messages:
        role = _role(message)
        if role == "user":
            items.append(ChatItem(USER, message_text(message)))
        elif role in _ASSISTANT_ROLES:
            text = message_text(message)
            if text:
                items.append(ChatItem(ASSISTANT, text))
            calls = tool_call_ids(message)
            if calls:
                items.append(ChatItem(TOOL_CALLS, tool_call_key(calls)))
        elif role in ("tool", "function"):
            kwargs = getattr(message, "additional_kwargs", None) or {}
            call_id = kwargs.get("tool_call_id") if isinstance(kwargs, Mapping) else None
            items.append(ChatItem(TOOL_RESULT, str(call_id or kwargs.get("name", ""))))
    return items


def usage(response: Any) -> tuple[int | None, int | None]:
    """``(input_tokens, output_tokens)`` of a ``ChatResponse``, from the provider's raw response
    (OpenAI's ``prompt_tokens`` / Anthropic's ``input_tokens``) or ``additional_kwargs``."""
    sources = [getattr(response, "additional_kwargs", None), _field(getattr(response, "raw", None), "usage")]
    for source in sources:
        if source is None:
            continue
        tokens_in = _field(source, "prompt_tokens") or _field(source, "input_tokens")
        tokens_out = _field(source, "completion_tokens") or _field(source, "output_tokens")
        if isinstance(tokens_in, int) or isinstance(tokens_out, int):
            return (
                tokens_in if isinstance(tokens_in, int) else None,
                tokens_out if isinstance(tokens_out, int) else None,
            )
    return None, None
