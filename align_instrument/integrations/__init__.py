"""Integrations installed by :func:`align_instrument.autoinstrument`.

Contract: each integration is a package ``align_instrument.integrations.<name>`` exposing

- ``install(engine: SessionEngine) -> bool``: patch/register; False when its library is absent
  (detected with ``importlib.util.find_spec`` / ``importlib.metadata``, never by importing heavy
  modules at our import time). Idempotent. Must not raise for a missing library.
- ``uninstall() -> None``: restore every original exactly (or turn a hook into a no-op).

Integrations capture through the shared :class:`~align_instrument.sessions.SessionEngine` and run
all of their own code inside ``capture_internal_exceptions``.
"""
