"""The inbox API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alerts.model import Alert


class NoteIn(BaseModel):
    """A staff action's note (why, what was done)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class SessionIn(BaseModel):
    """Sign in to the inbox with an API token (sets the ``anbu_token`` cookie)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class HistoryOut(BaseModel):
    """One entry of an alert's history."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    label: str
    actor: str
    note: str


class NotificationOut(BaseModel):
    """One notification and how its delivery went."""

    model_config = ConfigDict(from_attributes=True)

    channel: str
    target: str
    tier: int
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class AlertOut(BaseModel):
    """An alert as the inbox shows it."""

    id: str
    household_id: str
    care_center_id: str
    dong: str
    kind: str
    severity: str
    state: str
    active: bool
    reason: str
    reason_ko: str
    details: dict[str, Any]
    raised_at: datetime
    opened_at: datetime
    updated_at: datetime
    tier: int
    tiers: int
    next_escalation_at: datetime | None
    checkin_requested_at: datetime | None
    repeats: int
    acked_by: str | None
    acked_at: datetime | None
    ack_note: str | None
    closed_by: str | None
    closed_at: datetime | None
    close_note: str | None
    failed_notifications: int
    history: list[HistoryOut]
    notifications: list[NotificationOut]

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        """Build from the store's alert."""
        values = {name: getattr(alert, name) for name in cls.model_fields if hasattr(alert, name)}
        values.update(
            state=alert.state.value,
            active=alert.state.active,
            failed_notifications=sum(1 for n in alert.notifications if n.status == "failed"),
            history=[HistoryOut.model_validate(h) for h in alert.history],
            notifications=[NotificationOut.model_validate(n) for n in alert.notifications],
        )
        return cls.model_validate(values)


class AlertList(BaseModel):
    """The inbox: active alerts first (SOS on top), then recently closed ones."""

    alerts: list[AlertOut]
    viewer: str
    can_act: bool
