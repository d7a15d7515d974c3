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
import sys
import threading

import wrapt

from ...sessions.engine import SessionEngine

_lock = threading.Lock()
_engine: SessionEngine | None = None  # set while installed
_hooked = False
_patched = False


def install(engine: SessionEngine) -> bool:
    """Patch the ``anthropic`` SDK to capture through ``engine``: now if the app has imported it,
    else when it does (an app that never uses it does not pay for importing it).

    Returns:
        False when ``anthropic`` is not installed; True otherwise. Idempotent.
    """
    global _engine, _hooked
    if importlib.util.find_spec("anthropic") is None:
        return False
    with _lock:
        _engine = engine
        if "anthropic" in sys.modules:
            _patch_locked()
        elif not _hooked:
            _hooked = True
            wrapt.register_post_import_hook(_on_import, "anthropic")
    return True


def _on_import(module: object) -> None:
    with _lock:
        _patch_locked()


def _patch_locked() -> None:
    global _patched
    engine = _engine
    if engine is None or _patched:
        return  # uninstalled meanwhile, or already patched
    from . import _patch, _wrappers

    for module, cls, method in _patch.TRANSPORT_TARGETS:
        _patched = (
            _patch.patch(
                module, cls, method, lambda is_async: _wrappers.make_transport_wrapper(engine, is_async)
            )
            or _patched
        )


def uninstall() -> None:
    """Restore every patched SDK attribute to its original object (and forget a pending install)."""
    global _engine, _patched
    with _lock:
        _engine = None
        if _patched:
            from . import _patch

            _patch.unpatch_all()
            _patched = False
