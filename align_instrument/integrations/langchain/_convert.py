"""Turning LangChain messages into the text and OpenAI-style dicts that Align logs.

Imports nothing from LangChain: messages are read by duck typing (``type``, ``content``,
``tool_calls``), which keeps this module cheap and valid across langchain-core 0.3 and 1.x.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Non-text content blocks are logged as a short placeholder so a turn that was only an image
# still appears in the transcript, without sending the (possibly huge, possibly private) payload.
_PLACEHOLDERS = {
    "image_url": "[image]",
    "image": "[image]",
    "input_image": "[image]",
    "audio": "[audio]",
    "input_audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
    "video": "[video]",
}
# Blocks that are machinery, not something the end user saw.
_SKIPPED_BLOCKS = frozenset(
    {"tool_use", "tool_call", "tool_call_chunk", "server_tool_call", "reasoning", "thinking"}
)

# LangChain message ``type`` -> OpenAI chat role.
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "developer": "developer",
    "tool": "tool",
    "function": "function",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "function",
}


def content_text(content: object) -> str:
    """The text a user would see for a message ``content``: a string, or the text of its blocks.

    Text blocks are joined with newlines; image/audio/file blocks become a placeholder such as
    ``[image]``; tool-call and reasoning blocks are left out.

    Example:
        >>> content_text([{"type": "text", "text": "What is this?"}, {"type": "image_url"}])
        'What is this?\\n[image]'
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, Iterable) or isinstance(content, (bytes, Mapping)):
        return ""
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            if block:
                parts.append(block)
        elif isinstance(block, Mapping):
            kind = block.get("type")
            if kind in _SKIPPED_BLOCKS:
                continue
            text = block.get("text")
            if isinstance(text, str) and (kind is None or kind in ("text", "output_text", "input_text")):
                if text:
                    parts.append(text)
            elif isinstance(kind, str) and kind in _PLACEHOLDERS:
                parts.append(_PLACEHOLDERS[kind])
    return "\n".join(parts)


def message_role(message: Any) -> str:
    """The OpenAI chat role of a LangChain message (``"user"``, ``"assistant"``, ``"system"``, ...)."""
    kind = getattr(message, "type", None)
    if kind == "chat":  # ChatMessage carries a free-form role
        role = getattr(message, "role", "user")
        return {"human": "user", "ai": "assistant"}.get(role, role) if isinstance(role, str) else "user"
    return _ROLES.get(kind, "user") if isinstance(kind, str) else "user"


def message_tool_calls(message: Any) -> list[dict[str, Any]]:
    """The tool calls of an AI message in OpenAI shape (empty for other messages)."""
    calls = getattr(message, "tool_calls", None) or []
    out: list[dict[str, Any]] = []
    for call in calls:
        if isinstance(call, Mapping):
            out.append(
                {
                    "id": str(call.get("id") or ""),
                    "type": "function",
                    "function": {"name": str(call.get("name") or ""), "arguments": repr(call.get("args"))},
                }
            )
    if not out:
        # Providers that keep OpenAI-format calls only in additional_kwargs (older integrations).
        raw = (getattr(message, "additional_kwargs", None) or {}).get("tool_calls") or []
        out = [dict(call) for call in raw if isinstance(call, Mapping)]
    return out


def to_openai_message(message: Any) -> dict[str, Any]:
    """A LangChain message as an OpenAI chat message dict, the shape the session engine indexes.

    Content is reduced to its text (see :func:`content_text`) so that the same conversation hashes
    identically whichever content representation LangChain used for it.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> to_openai_message(HumanMessage("hi"))
        {'role': 'user', 'content': 'hi'}
    """
    role = message_role(message)
    out: dict[str, Any] = {"role": role, "content": content_text(getattr(message, "content", ""))}
    if role == "assistant":
        calls = message_tool_calls(message)
        if calls:
            out["tool_calls"] = calls
    elif role == "tool":
        out["tool_call_id"] = str(getattr(message, "tool_call_id", "") or "")
    return out


def to_openai_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """:func:`to_openai_message` over a list."""
    return [to_openai_message(m) for m in messages]


def is_loggable(message: Any) -> bool:
    """True for the messages Align logs: human turns, and AI turns that carry text and no tool calls.

    An AI message that asks for tools is an intermediate agent step, not an answer the user saw.
    """
    role = message_role(message)
    if role == "assistant" and message_tool_calls(message):
        return False
    if role not in ("user", "assistant"):
        return False
    return bool(content_text(getattr(message, "content", "")).strip())
