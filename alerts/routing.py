"""Which notifications an alert's tier gets: the configured channels and who is there.

Tier 1 goes to the care center's systems (webhooks) and its care workers; later tiers to
the duty phone and the household's district or emergency contacts (see
:func:`alerts.directory.recipients`). A channel without configuration is not queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alerts.directory import Directory, recipients
from alerts.model import Alert
from anbu.events import HEALTH_KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Channels:
    """Which notifiers are configured (a channel without configuration is not queued)."""

    webhook_url: str | None = None
    email: bool = False
    sms: bool = False
    robot: bool = False
    voicebot: bool = False


def tier_targets(
    channels: Channels, directory: Directory, alert: Alert, tier: int
) -> list[tuple[str, str]]:
    """The ``(channel, target)`` of each notification ``alert`` gets at ``tier``.

    A target names whom, not the address: the notifier looks the address up when it sends,
    so personal data stays in the registry.
    """
    targets: list[tuple[str, str]] = []
    if channels.webhook_url:
        targets.append(("webhook", "webhook:global"))
    center = directory.center(alert.care_center_id)
    if center is not None and center.webhook_url and center.webhook_url != channels.webhook_url:
        targets.append(("webhook", "webhook:center"))
    if alert.kind in HEALTH_KINDS:
        # Care workers' phones and mailboxes are for people; a flat battery reaches the
        # center's systems by webhook and waits in the inbox.
        pass
    elif channels.email or channels.sms:
        emails, phones = recipients(directory, alert.household_id, alert.care_center_id, tier)
        if channels.email and emails:
            targets.append(("email", f"email:tier{tier}"))
        if channels.sms and phones:
            targets.append(("sms", f"sms:tier{tier}"))
    if not targets:
        log.warning(
            "alert %s (%s, household %s) tier %d: no notifier configured for anyone; "
            "it is visible in the inbox only",
            alert.id,
            alert.kind,
            alert.household_id,
            tier,
        )
    return targets
