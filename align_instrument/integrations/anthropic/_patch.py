"""Patching the ``anthropic`` SDK at its transport hook.

Every Messages API call (``create``, ``stream=True``, the ``.stream()`` helper, ``with_raw_response``,
``with_streaming_response``, ``beta.messages``; sync and async; Bedrock / Vertex clients too) goes
through ``SyncAPIClient.request`` / ``AsyncAPIClient.request`` with the body in
``options.json_data``, so patching those two class attributes covers clients built before
``autoinstrument()``. :func:`unpatch_all` puts the original objects back.
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
    ("anthropic._base_client", "SyncAPIClient", "request"),
    ("anthropic._base_client", "AsyncAPIClient", "request"),
)
"""(module, class, method) of the transport hook; ``sync`` / ``async`` is read from the method."""

_patched: list[tuple[type, str, Any]] = []


def patch(module_name: str, class_name: str, method: str, make_wrapper: Callable[[bool], Wrapper]) -> bool:
    """Wrap ``module.Class.method`` with ``make_wrapper(is_async)``; True when patched."""
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        original = cls.__dict__[method]
        if isinstance(original, wrapt.FunctionWrapper):
            return False  # already ours (or someone's): never stack
        setattr(
            cls, method, wrapt.FunctionWrapper(original, make_wrapper(inspect.iscoroutinefunction(original)))
        )
        _patched.append((cls, method, original))
        return True
    except Exception:
        logger.debug(
            "align_instrument: cannot patch %s.%s.%s", module_name, class_name, method, exc_info=True
        )
        return False


def unpatch_all() -> None:
    """Restore every original patched by :func:`patch` (most recent first)."""
    while _patched:
        cls, method, original = _patched.pop()
        try:
            setattr(cls, method, original)
        except Exception:  # pragma: no cover - class attributes of the SDK are writable
            logger.debug("align_instrument: cannot restore %s.%s", cls, method, exc_info=True)
