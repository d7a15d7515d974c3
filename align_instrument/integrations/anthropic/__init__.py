"""Anthropic integration: every Messages API call of the ``anthropic`` SDK is captured.

Public entry: :func:`install` / :func:`uninstall` (called by :func:`align_instrument.autoinstrument`
and :func:`align_instrument.uninstrument`). Private modules, one per concern:

- ``_patch``: what is patched (the transport hook) and exact restoration;
- ``_wrappers``: the wrappers (begin turn, call through, capture) and raw-response proxies;
- ``_request``: reading the request (messages and content blocks, user, model);
- ``_response``: reading replies from ``Message`` objects and stream events;
- ``_stream``: the capture of one call (the stream proxies are the OpenAI integration's: the two
  SDKs' ``Stream`` / ``AsyncStream`` have the same shape).
"""

from __future__ import annotations

import importlib.util
import threading

from ...sessions.engine import SessionEngine

_lock = threading.Lock()
_installed = False


def install(engine: SessionEngine) -> bool:
    """Patch the ``anthropic`` SDK to capture through ``engine`` (``autoinstrument()`` calls it once
    the app has imported ``anthropic``).

    Returns:
        False when ``anthropic`` is not installed or nothing could be patched; True otherwise.
        Calling it again while installed returns True without patching twice.
    """
    global _installed
    if importlib.util.find_spec("anthropic") is None:
        return False
    from . import _patch, _wrappers

    with _lock:
        if not _installed:
            for module, cls, method in _patch.TRANSPORT_TARGETS:
                _installed = (
                    _patch.patch(
                        module,
                        cls,
                        method,
                        lambda is_async: _wrappers.make_transport_wrapper(engine, is_async),
                    )
                    or _installed
                )
        return _installed


def uninstall() -> None:
    """Restore every patched SDK attribute to its original object."""
    global _installed
    with _lock:
        if _installed:
            from . import _patch

            _patch.unpatch_all()
            _installed = False
