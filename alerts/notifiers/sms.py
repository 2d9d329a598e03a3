"""SMS notifier: a JSON POST to a configurable SMS gateway's HTTP API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from alerts.directory import Directory
from alerts.model import Alert, Notification
from alerts.notifiers import addresses
from alerts.notifiers.http import HttpPoster
from alerts.notifiers.templates import render


@dataclass(eq=False)  # compared and hashed by identity, as before
class SmsNotifier:
    """Sends ``{"to": [...], "text": ..., "idempotency_key": ...}`` to the gateway.

    Args:
        directory: for the tier's phone numbers (looked up at send time).
        url: ``alerts.sms_gateway_url``.
        api_key: ``alerts.sms_api_key``, sent in ``api_key_header``.
        api_key_header: header name for the key.
        inbox_url: link in the message.
        timeout_s: per-request timeout.
    """

    channel = "sms"

    directory: Directory
    url: str
    api_key: str | None = field(repr=False)
    api_key_header: str = "X-Api-Key"
    inbox_url: str | None = None
    timeout_s: float = 10.0
    http: HttpPoster = field(init=False)

    def __post_init__(self) -> None:
        self.http = HttpPoster(self.timeout_s)

    async def send(self, alert: Alert, notification: Notification) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        phones = addresses(self.directory, alert, notification.tier, phones=True)
        text = render("sms_ko.txt", alert, notification.tier, self.inbox_url).strip()
        body = json.dumps(
            {"to": phones, "text": text, "idempotency_key": notification.id},
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.api_key:
            headers[self.api_key_header] = self.api_key
        await self.http.post(self.url, body, headers)

    async def close(self) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        await self.http.close()
