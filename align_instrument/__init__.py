"""align_instrument: get an LLM chat app's conversations into Align analytics.

- :class:`AlignClient`: the explicit Align API, validated and delivered in the background.
- :class:`AlignAI` / :class:`Config`: drop-in for the official ``alignai`` SDK.
"""

from .client import AlignAI, AlignClient, Config, ConfigurationError
from .events import (
    FEEDBACK_THUMBS_DOWN,
    FEEDBACK_THUMBS_UP,
    ROLE_ASSISTANT,
    ROLE_USER,
    ValidationError,
)

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
    "ValidationError",
    "__version__",
]
