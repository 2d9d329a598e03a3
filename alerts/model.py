"""What the alert store holds: alerts, their history and their notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from anbu.events import AlertKind
from anbu.timeutil import from_epoch

INACTIVITY_KINDS = frozenset(
    {AlertKind.INACTIVITY.value, AlertKind.INACTIVITY_ROUTINE.value, AlertKind.NOT_BACK.value}
)
"""Kinds for which the resident's care robot may be asked to check in before escalating."""

QUIET_HOME_KINDS = INACTIVITY_KINDS | {AlertKind.AWAY_OVERRUN.value}
"""Kinds for which the voice bot may call the resident before escalating."""


class AlertState(StrEnum):
    """Where an alert is in its life."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    AUTO_RESOLVED = "auto_resolved"
    FALSE_ALARM = "false_alarm"

    @property
    def active(self) -> bool:
        """Whether someone still has to act on it."""
        return self in (AlertState.OPEN, AlertState.ACKNOWLEDGED)


class HistoryLabel(StrEnum):
    """What a history entry records: a state, or an event in the alert's life."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    AUTO_RESOLVED = "auto_resolved"
    FALSE_ALARM = "false_alarm"
    ESCALATED = "escalated"
    CHECKIN_REQUESTED = "checkin_requested"
    VISIT = "visit"  # a doorstep visit noted on an open alert (alerts/visits.py)


class NotificationStatus(StrEnum):
    """Delivery state of one notification."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def micros(moment: datetime) -> int:
    """Integer microseconds since the epoch (what the store keeps)."""
    return round(moment.timestamp() * 1_000_000)


def from_micros(value: int | None) -> datetime | None:
    """Inverse of :func:`micros`; None stays None."""
    return None if value is None else from_epoch(value / 1_000_000)


@dataclass(frozen=True, slots=True)
class HouseholdPolicy:
    """What the alerts service needs to know about a household (from ``anbu.registry``).

    Attributes:
        care_center_id: the responsible center ("" when unknown).
        dong: neighbourhood, for dashboards.
        escalation_delays_s: wait at each tier before the next.
        checkin_enabled: ask the care robot before escalating an inactivity alert.
        tiers: how many contact tiers exist.
    """

    care_center_id: str
    dong: str
    escalation_delays_s: tuple[int, ...]
    checkin_enabled: bool
    tiers: int

    def delay_at(self, tier: int) -> float | None:
        """Seconds to wait at ``tier`` (1-based) before escalating; None at the last tier."""
        if tier >= self.tiers:
            return None
        if not self.escalation_delays_s:
            return None
        index = min(tier - 1, len(self.escalation_delays_s) - 1)
        return float(self.escalation_delays_s[index])


@dataclass(slots=True)
class Alert:
    """One alert as the store holds it (a row of ``alerts``)."""

    id: str
    household_id: str
    care_center_id: str
    dong: str
    kind: str
    severity: str
    state: AlertState
    reason: str
    reason_ko: str
    details: dict[str, Any]
    device_id: str | None
    raised_at: datetime
    opened_at: datetime
    updated_at: datetime
    tier: int
    tiers: int
    escalation_delays_s: list[int]
    checkin_enabled: bool
    next_escalation_at: datetime | None
    checkin_request_id: str | None
    checkin_requested_at: datetime | None
    repeats: int
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_note: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_note: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)

    def labels(self) -> dict[str, str]:
        """What the alert is known by outside: pseudonymous ids, kind, severity and state.

        The webhook body and the ``alerts`` row carry these alike (no personal data).
        """
        return {
            "household_id": self.household_id,
            "care_center_id": self.care_center_id,
            "dong": self.dong,
            "kind": self.kind,
            "severity": self.severity,
            "state": self.state.value,
        }

    @property
    def policy(self) -> HouseholdPolicy:
        """The household settings captured when the alert was raised."""
        return HouseholdPolicy(
            self.care_center_id,
            self.dong,
            tuple(self.escalation_delays_s),
            self.checkin_enabled,
            self.tiers,
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One thing that happened to an alert: who, when, what, and their note."""

    seq: int
    alert_id: str
    at: datetime
    label: HistoryLabel
    actor: str
    note: str


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification to deliver (or delivered) for an alert.

    ``target`` is a label (``webhook:global``, ``email:tier1``), never an address: the
    addresses stay in the registry and are looked up when sending.
    """

    id: str
    alert_id: str
    tier: int
    channel: str
    target: str
    status: NotificationStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
