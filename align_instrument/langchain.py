"""LangChain support (needs the ``langchain`` extra: ``pip install align-instrument[langchain]``).

- :class:`AlignCallbackHandler`: pass it in ``callbacks`` (or let ``align.autoinstrument()``
  register one for every run) and LangChain chat model runs are logged as Align sessions.
- :class:`AlignChatMessageHistory`: wrap any LangChain chat history so that its conversation is
  logged as one Align session, like the official ``alignai`` SDK's integration.

Example:
    >>> from align_instrument.langchain import AlignCallbackHandler
    >>> chain.invoke(inputs, config={"callbacks": [AlignCallbackHandler(client=client)],
    ...                              "metadata": {"session_id": "s-1", "user_id": "u-1"}})
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401  # checked first, for a clear message when it is missing
except ModuleNotFoundError as exc:  # pragma: no cover - the dev environment has it
    raise ImportError(
        "align_instrument.langchain needs langchain-core: pip install 'align-instrument[langchain]'"
    ) from exc

from .integrations.langchain._handler import AlignCallbackHandler
from .integrations.langchain._history import AlignChatMessageHistory, UserInfo

__all__ = ["AlignCallbackHandler", "AlignChatMessageHistory", "UserInfo"]
