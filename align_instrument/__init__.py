"""align_instrument: get an LLM chat app's conversations into Align analytics.

- :class:`AlignClient`: the explicit Align API, validated and delivered in the background.
- :class:`AlignAI` / :class:`Config`: drop-in for the official ``alignai`` SDK.
- :func:`autoinstrument` / :func:`uninstrument`: log OpenAI and LangChain calls as sessions, no code change;
  :class:`session` scopes, :func:`current_session`, :func:`message_ref` and :func:`feedback` go with it.
"""

from .client import AlignAI, AlignClient, Config, ConfigurationError
from .events import (
    FEEDBACK_THUMBS_DOWN,
    FEEDBACK_THUMBS_UP,
    ROLE_ASSISTANT,
    ROLE_USER,
    ValidationError,
)
from .instrument import autoinstrument, current_session, feedback, message_ref, session, uninstrument
from .sessions.store import MessageRef

__version__ = "0.1.0"

__all__ = [
    "FEEDBACK_THUMBS_DOWN",
    "FEEDBACK_THUMBS_UP",
    "ROLE_ASSISTANT",
    "ROLE_USER",
    "AlignAI",
    "AlignClient",
    "Config",
    "ConfigurationError",
    "MessageRef",
    "ValidationError",
    "__version__",
    "autoinstrument",
    "current_session",
    "feedback",
    "message_ref",
    "session",
    "uninstrument",
]
