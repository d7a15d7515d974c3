"""Integrations installed by :func:`align_instrument.autoinstrument`, each when the app imports its
library.

Contract: each integration is a package ``align_instrument.integrations.<name>``, listed in
:data:`INTEGRATIONS` with the module whose import triggers it, exposing

- ``install(engine: SessionEngine) -> bool``: patch/register; False when its library is absent.
  Idempotent. Must not raise for a missing library.
- ``uninstall() -> None``: restore every original exactly (or turn a hook into a no-op).

Integrations capture through the shared :class:`~align_instrument.sessions.SessionEngine` and run
all of their own code inside ``capture_internal_exceptions``.

Lazy installation: ``autoinstrument()`` imports no provider or framework. An integration whose
trigger module is already imported is installed at once; the others through a post-import hook
(``wrapt.register_post_import_hook``), which installs them right after the app's own import of that
module. So an app that uses only ``openai`` never imports LangChain (nor ``langsmith``) because of us.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING

from .._internal import ErrorCounter, logger, report_internal_error

if TYPE_CHECKING:
    from ..sessions.engine import SessionEngine

INTEGRATIONS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "langchain": "langchain_core",
    "llamaindex": "llama_index.core",
}
"""Integration package name under ``align_instrument.integrations`` -> the module whose import
installs it (adding an integration is one line here)."""


class Installer:
    """Installs the integrations of :data:`INTEGRATIONS` into one engine as their libraries are
    imported, until :meth:`stop`. At most one is active per process (that of ``autoinstrument()``).

    Args:
        engine: what the integrations capture through.
        counter: where install failures are counted (the client).
    """

    def __init__(self, engine: SessionEngine, counter: ErrorCounter) -> None:
        self._engine = engine
        self._counter = counter
        self._lock = threading.Lock()
        self._claimed: set[str] = set()
        self._active = True
        self.modules: list[ModuleType] = []
        """The integrations installed so far, in installation order."""

    def start(self) -> None:
        """Install what is imported already; hook the rest to the app's imports."""
        global _active
        with _hooks_lock:
            _active = self
        for name, trigger in INTEGRATIONS.items():
            if sys.modules.get(trigger) is not None:
                self.install(name)
            else:
                _hook(trigger)

    def install(self, name: str) -> None:
        """Install one integration (once; never raises: a failure is counted and logged at debug)."""
        with self._lock:
            if not self._active or name in self._claimed:
                return
            self._claimed.add(name)
        try:
            module = _import_integration(name)
            if module is None or not callable(getattr(module, "install", None)):
                return  # not shipped in this build (or still a bare namespace package)
            if not module.install(self._engine):
                return
        except Exception:
            report_internal_error(self._counter, f"install_{name}")  # counted, logged at debug
            return
        with self._lock:
            if self._active:
                self.modules.append(module)
                return
        _uninstall(module, self._counter)  # stop() ran while it was being installed

    def stop(self) -> None:
        """Uninstall what was installed (newest first); later imports install nothing."""
        global _active
        with _hooks_lock:
            if _active is self:
                _active = None
        with self._lock:
            self._active = False
            modules, self.modules = self.modules, []
        for module in reversed(modules):
            _uninstall(module, self._counter)


_hooks_lock = threading.Lock()
_active: Installer | None = None
_hooked: set[str] = set()  # trigger modules with a post-import hook that has not fired yet


def _after_fork_in_child() -> None:
    # Locks a parent's thread held at the instant of the fork would never be released here. That
    # includes wrapt's hook lock, which its finder takes on every import of a new module once a
    # post-import hook is registered: the child would hang on its first such import.
    global _hooks_lock
    _hooks_lock = threading.Lock()
    if _active is not None:
        _active._lock = threading.Lock()
    importer = sys.modules.get("wrapt.importer")
    if importer is not None and hasattr(importer, "_post_import_hooks_lock"):
        setattr(importer, "_post_import_hooks_lock", threading.RLock())  # noqa: B010 (not typed)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _hook(trigger: str) -> None:
    # One hook per trigger module and process, whichever Installer is active when it fires: wrapt
    # has no way to remove a hook, so uninstrument() + autoinstrument() must not stack them.
    with _hooks_lock:
        if trigger in _hooked:
            return
        _hooked.add(trigger)
    import wrapt

    wrapt.register_post_import_hook(_on_import, trigger)  # runs at once if imported meanwhile


def _on_import(module: ModuleType) -> None:
    # Runs inside the app's import statement: it must never raise (that would fail the import).
    try:
        with _hooks_lock:
            _hooked.discard(module.__name__)
            installer = _active
        if installer is not None:
            for name, trigger in INTEGRATIONS.items():
                if trigger == module.__name__:
                    installer.install(name)
    except Exception:
        logger.debug("align_instrument: post-import hook of %s failed", module, exc_info=True)


def _import_integration(name: str) -> ModuleType | None:
    module_name = f"{__name__}.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None  # that integration is not shipped in this build
        logger.debug("align_instrument: integration %s cannot be imported", name, exc_info=True)
    except Exception:
        logger.debug("align_instrument: integration %s cannot be imported", name, exc_info=True)
    return None


def _uninstall(module: ModuleType, counter: ErrorCounter) -> None:
    try:
        module.uninstall()
    except Exception:
        report_internal_error(counter, f"uninstall_{module.__name__.rsplit('.', 1)[-1]}")


__all__ = ["INTEGRATIONS", "Installer"]
