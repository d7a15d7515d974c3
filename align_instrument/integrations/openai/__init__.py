"""OpenAI integration: every chat completions and Responses call of the ``openai`` SDK is captured.

Public entry: :func:`install` / :func:`uninstall` (called by :func:`align_instrument.autoinstrument`
and :func:`align_instrument.uninstrument`). Private modules, one per concern:

- ``_patch``: what is patched (transport hook, fallback table) and exact restoration;
- ``_wrappers``: the wrappers (begin turn, call through, capture) and raw-response proxies;
- ``_request``: reading the request (messages, user, model, conversation, previous response);
- ``_response``: reading replies from response objects and stream chunks;
- ``_stream``: the stream proxies and the once-only capture of a reply.
"""

from __future__ import annotations

import importlib.util
import threading

from ...sessions.engine import SessionEngine

_lock = threading.Lock()
_installed = False


def install(engine: SessionEngine) -> bool:
    """Patch the ``openai`` SDK to capture through ``engine``.

    Returns:
        False when ``openai`` is not installed or nothing could be patched; True otherwise.
        Calling it again while installed returns True without patching twice.
    """
    global _installed
    if importlib.util.find_spec("openai") is None:
        return False
    from . import _patch, _wrappers

    with _lock:
        if _installed:
            return True
        patched = 0
        if _patch.has_transport_hook():
            for module, cls, method in _patch.TRANSPORT_TARGETS:
                patched += _patch.patch(
                    module, cls, method, lambda is_async: _wrappers.make_transport_wrapper(engine, is_async)
                )
        if not patched:
            for module, cls, method in _patch.FALLBACK_TARGETS:
                kind = "responses" if "responses" in module else "chat"
                patched += _patch.patch(
                    module,
                    cls,
                    method,
                    lambda is_async, kind=kind: _wrappers.make_resource_wrapper(engine, kind, is_async),  # type: ignore[misc]
                )
        if patched:
            for module, cls, method in _patch.HELPER_CLOSE_TARGETS:
                _patch.patch_when_imported(
                    module,
                    cls,
                    method,
                    lambda is_async: _wrappers.make_helper_close_wrapper(engine, is_async),
                )
        _installed = patched > 0
        return _installed


def uninstall() -> None:
    """Restore every patched SDK attribute to its original object."""
    global _installed
    if importlib.util.find_spec("openai") is None:
        return
    from . import _patch

    with _lock:
        _patch.unpatch_all()
        _installed = False
