"""Tuning of an :class:`~align_instrument.AlignClient`'s buffer and delivery worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OnDrop = Callable[[str, int], None]
BeforeSend = Callable[[dict[str, Any]], "dict[str, Any] | None"]


@dataclass
class DeliveryOptions:
    """Tuning of the buffer and the worker; every field is an ``AlignClient`` keyword option."""

    flush_interval: float = 1.0
    """Seconds between deliveries of a partly filled batch."""
    max_batch_events: int = 500
    max_batch_bytes: int = 1024 * 1024
    max_queue_events: int = 100_000
    max_queue_bytes: int = 16 * 1024 * 1024
    request_timeout: float = 10.0
    max_retries: int | None = None
    """Retries of one batch after a transient failure; ``None`` retries until delivered or closed."""
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 300.0
    shutdown_timeout: float = 5.0
    """Budget of the ``atexit`` flush when the app exits without ``close()`` (a host that refused
    every connection is given up on sooner: after one more attempt)."""
    on_drop: OnDrop | None = None
    before_send: BeforeSend | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    gzip: bool | None = None
    """Compress bodies over 8 KiB; ``None``: yes, except to a loopback host."""

    def validate(self) -> None:
        for name in ("flush_interval", "request_timeout", "backoff_base", "backoff_max", "shutdown_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative number (got {value!r})")
        for name in ("max_batch_events", "max_batch_bytes", "max_queue_events", "max_queue_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int (got {value!r})")
        if self.max_retries is not None and (not isinstance(self.max_retries, int) or self.max_retries < 0):
            raise ValueError(f"max_retries must be None or a non-negative int (got {self.max_retries!r})")
        for name in ("on_drop", "before_send"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ValueError(f"{name} must be callable (got {value!r})")
