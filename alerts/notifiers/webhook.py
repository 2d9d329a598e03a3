"""Webhook notifier: a signed JSON POST to the global URL or the care center's own."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from alerts.directory import Directory
from alerts.exceptions import NotifyError
from alerts.model import Alert, Notification
from alerts.notifiers.http import HttpPoster

SIGNATURE_HEADER = "X-Anbu-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str, secret: str) -> bool:
    """Check a received signature header in constant time (for receivers and tests)."""
    return hmac.compare_digest(sign(body, secret), header)


def webhook_body(alert: Alert, notification: Notification, inbox_url: str | None) -> bytes:
    """The JSON a webhook receiver gets (pseudonymous ids, no personal data)."""
    body: dict[str, Any] = {
        "type": "alert.raised" if notification.tier == 1 else "alert.escalated",
        "alert_id": alert.id,
        **alert.labels(),
        "tier": notification.tier,
        "reason": alert.reason,
        "reason_ko": alert.reason_ko,
        "raised_at": alert.raised_at.isoformat(),
        "details": alert.details,
        "inbox_url": inbox_url,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


@dataclass(eq=False)  # compared and hashed by identity, as before
class WebhookNotifier:
    """POSTs a JSON body with an HMAC-SHA256 signature and an ``Idempotency-Key``.

    The key is the notification's id, stable across retries and restarts, so a receiver
    can drop a repeat delivery.

    Args:
        directory: for the care center's own webhook URL.
        global_url: ``alerts.webhook_url``.
        secret: ``alerts.webhook_secret`` (unsigned if None).
        inbox_url: link to the inbox for the body.
        timeout_s: per-request timeout.
    """

    channel = "webhook"

    directory: Directory
    global_url: str | None
    secret: str | None = field(repr=False)
    inbox_url: str | None = None
    timeout_s: float = 10.0
    http: HttpPoster = field(init=False)

    def __post_init__(self) -> None:
        self.http = HttpPoster(self.timeout_s)

    def url_for(self, alert: Alert, notification: Notification) -> str | None:
        """Where this notification goes."""
        if notification.target == "webhook:center":
            center = self.directory.center(alert.care_center_id)
            return center.webhook_url if center else None
        return self.global_url

    async def send(self, alert: Alert, notification: Notification) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        url = self.url_for(alert, notification)
        if not url:
            raise NotifyError(f"{notification.target}: no URL configured", retryable=False)
        body = webhook_body(alert, notification, self.inbox_url)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": notification.id,
            "User-Agent": "anbu-alerts/0.1",
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        await self.http.post(url, body, headers)

    async def close(self) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        await self.http.close()
