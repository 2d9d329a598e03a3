"""Notifiers: each delivers one notification over one channel, or raises NotifyError."""

from __future__ import annotations

from typing import Protocol

from alerts.directory import Directory, recipients
from alerts.exceptions import NotifyError
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


def addresses(directory: Directory, alert: Alert, tier: int, *, phones: bool) -> list[str]:
    """The e-mail addresses (with ``phones``, the phone numbers) to notify at ``tier``.

    Raises:
        NotifyError: there are none any more (not retryable: the registry changed).
    """
    emails, numbers = recipients(directory, alert.household_id, alert.care_center_id, tier)
    found = numbers if phones else emails
    if not found:
        what = "phone numbers" if phones else "e-mail addresses"
        raise NotifyError(f"no {what} at tier {tier} any more", retryable=False)
    return found
