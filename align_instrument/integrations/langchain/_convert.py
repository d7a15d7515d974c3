"""Reading LangChain messages: the text Align logs, the role, the tool calls.

Imports nothing from LangChain: messages are read by duck typing (``type``, ``content``,
``tool_calls``), which keeps this module cheap and valid across langchain-core 0.3 and 1.x.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def tool_call_ids(message: Any) -> list[str]:
    """The ids of an AI message's tool calls (LangChain's ``tool_calls``, else the OpenAI-format
    ``additional_kwargs["tool_calls"]`` of older integrations); empty for other messages.

    Example:
        >>> tool_call_ids(AIMessage("", tool_calls=[{"id": "c1", "name": "f", "args": {}}]))
        ['c1']
    """
    calls = getattr(message, "tool_calls", None)
    if calls:
        return [str(c.get("id")) for c in calls if isinstance(c, Mapping)]
    extra = getattr(message, "additional_kwargs", None)
    if extra:
        raw = extra.get("tool_calls")
        if raw:
            return [str(c.get("id")) for c in raw if isinstance(c, Mapping)]
    return []


def is_loggable(message: Any) -> bool:
    """True for the messages Align logs: human turns, and AI turns that carry text (a tool-call
    step without text is not logged), the same rule as the session engine's.

    Example:
        >>> is_loggable(SystemMessage("be brief")), is_loggable(HumanMessage("Hi"))
        (False, True)
    """
    if message_role(message) not in ("user", "assistant"):
        return False
    return bool(content_text(getattr(message, "content", "")).strip())
