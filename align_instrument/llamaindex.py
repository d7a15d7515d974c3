"""LlamaIndex support (needs the ``llamaindex`` extra: ``pip install align-instrument[llamaindex]``).

- ``align.autoinstrument()`` captures LlamaIndex chat engines, agents and ``llm.chat`` calls
  through LlamaIndex's instrumentation dispatcher (nothing to import from here).
- :class:`AlignChatMemory`: wrap any LlamaIndex memory so that its conversation is logged as one
  Align session, like the official ``alignai`` SDK's ``ChatMemory``.

Example:
    >>> from align_instrument.llamaindex import AlignChatMemory
    >>> memory = AlignChatMemory(ChatMemoryBuffer.from_defaults(), client, "s-1", "u-1")
    >>> SimpleChatEngine.from_defaults(llm=llm, memory=memory).chat("Hi!")
"""

from __future__ import annotations

try:
    import llama_index.core  # noqa: F401  # checked first, for a clear message when it is missing
except ModuleNotFoundError as exc:  # pragma: no cover - the dev environment has it
    raise ImportError(
        "align_instrument.llamaindex needs llama-index-core: pip install 'align-instrument[llamaindex]'"
    ) from exc

from .integrations.llamaindex._memory import AlignChatMemory

__all__ = ["AlignChatMemory"]
