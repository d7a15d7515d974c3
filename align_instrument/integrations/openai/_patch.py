"""Patching the ``openai`` SDK: one transport-level hook, with a resource-level fallback.

openai >= 1.0 routes every API call (``create``, ``parse``, ``.stream()`` helpers,
``with_raw_response``, ``with_streaming_response``, chat completions and Responses, sync and
async) through ``SyncAPIClient.request`` / ``AsyncAPIClient.request``, with the request body in
``options.json_data``. Patching those two class attributes covers clients built before
``autoinstrument()`` too. Older or unusual SDKs without that hook get the fallback table of
resource ``create`` methods.

Each target is patched in its own ``try``; :func:`unpatch_all` puts the original objects back
(``cls.__dict__[name] is original`` afterwards).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import wrapt

from ..._internal import logger

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]

TRANSPORT_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("openai._base_client", "SyncAPIClient", "request"),
    ("openai._base_client", "AsyncAPIClient", "request"),
)
"""(module, class, method) of the transport hook; ``sync`` / ``async`` is read from the method."""

FALLBACK_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("openai.resources.chat.completions", "Completions", "create"),
    ("openai.resources.chat.completions", "AsyncCompletions", "create"),
    ("openai.resources.responses", "Responses", "create"),
    ("openai.resources.responses", "AsyncResponses", "create"),
)
"""Resource methods patched when the transport hook is missing (the body is then the kwargs)."""

HELPER_CLOSE_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream", "close"),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream", "close"),
    ("openai.lib.streaming.responses._responses", "ResponseStream", "close"),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream", "close"),
)
"""The ``.stream()`` helpers close the HTTP response directly, not the stream they wrap: patched so
that leaving a helper's ``with`` block early ends the capture at once (else it ends at GC). Patched
when the app imports them (:func:`patch_when_imported`): importing them builds pydantic models
(~0.5 s), and ``import openai`` does not."""

_patched: list[tuple[type, str, Any]] = []
_generation = 0  # bumped by unpatch_all(): a pending post-import patch of an older install is void


def patch(module_name: str, class_name: str, method: str, make_wrapper: Callable[[bool], Wrapper]) -> bool:
    """Wrap ``module.Class.method`` with ``make_wrapper(is_async)``; True when patched."""
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
        original = cls.__dict__[method]
        if isinstance(original, wrapt.FunctionWrapper):
            return False  # already ours (or someone's): never stack
        is_async = inspect.iscoroutinefunction(original)
        setattr(cls, method, wrapt.FunctionWrapper(original, make_wrapper(is_async)))
        _patched.append((cls, method, original))
        return True
    except Exception:
        logger.debug(
            "align_instrument: cannot patch %s.%s.%s", module_name, class_name, method, exc_info=True
        )
        return False


def patch_when_imported(
    module_name: str, class_name: str, method: str, make_wrapper: Callable[[bool], Wrapper]
) -> None:
    """:func:`patch` at once when ``module_name`` is imported, else right after the app imports it
    (unless :func:`unpatch_all` ran meanwhile)."""
    generation = _generation

    def on_import(_module: object) -> None:  # inside the app's import: patch() never raises
        if generation == _generation:
            patch(module_name, class_name, method, make_wrapper)

    wrapt.register_post_import_hook(on_import, module_name)


def unpatch_all() -> None:
    """Restore every original patched by :func:`patch` (most recent first)."""
    global _generation
    _generation += 1
    while _patched:
        cls, method, original = _patched.pop()
        try:
            setattr(cls, method, original)
        except Exception:  # pragma: no cover - class attributes of the SDK are writable
            logger.debug("align_instrument: cannot restore %s.%s", cls, method, exc_info=True)


def has_transport_hook() -> bool:
    """Whether the installed SDK has the ``request`` hook this integration relies on."""
    try:
        from openai import _base_client
        from openai.version import VERSION

        major = int(VERSION.split(".", 1)[0])
        return major >= 1 and all(
            callable(getattr(getattr(_base_client, cls, None), method, None))
            for _, cls, method in TRANSPORT_TARGETS
        )
    except Exception:
        return False
