"""What an :class:`~align_instrument.AlignClient` delivers through when it has nowhere to send:
``autoinstrument()`` without credentials returns such a client, so that the app still starts."""

from __future__ import annotations

from typing import Any


class InactiveDelivery:
    """Stands in for :class:`~align_instrument.delivery.Delivery`: every event is dropped (counted
    as ``dropped["inactive"]``) and ``stats()["inactive"]`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._dropped = 0

    def submit(
        self, kind: str, create_time: float, fields: tuple[Any, ...], props: dict[str, str] | None, size: int
    ) -> bool:
        self._dropped += 1
        return False

    def flush(self, timeout: float) -> bool:
        return True  # nothing was accepted, so nothing is left undelivered

    def close(self, timeout: float, at_exit: bool = False) -> bool:
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "enqueued": 0,
            "sent": 0,
            "retried": 0,
            "batches": 0,
            "dropped": {"inactive": self._dropped} if self._dropped else {},
            "pending": 0,
            "inactive": self.reason,
        }
