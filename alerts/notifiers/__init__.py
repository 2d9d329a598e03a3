"""Notifiers: each delivers one notification over one channel, or raises NotifyError."""

from __future__ import annotations

from typing import Protocol

from alerts.model import Alert, Notification


class Notifier(Protocol):
    """One delivery channel."""

    channel: str

    async def send(self, alert: Alert, notification: Notification) -> None:
        """Deliver ``notification`` about ``alert``.

        Raises:
            NotifyError: delivery failed (``retryable`` says whether to try again).
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
