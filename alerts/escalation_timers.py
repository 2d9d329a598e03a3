"""Escalation timers in the alert store: which open alerts are due, and moving them on.

The service's escalation loop reads the state from the store before escalating, so an
acknowledgement in the inbox (another process) stops escalation without a message between
the two: :meth:`EscalationTimers.set_escalation` changes nothing if the alert moved on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from alerts.database import StoreDatabase
from alerts.model import Alert, AlertState, micros
from alerts.tables import alert_from_row, alerts_table


class EscalationTimers(StoreDatabase):
    """Read and advance the escalation deadlines of open alerts."""

    def due_for_escalation(self, now: datetime, limit: int = 500) -> list[Alert]:
        """Open alerts whose escalation deadline has passed."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alerts_table)
                .where(
                    alerts_table.c.state == AlertState.OPEN.value,
                    alerts_table.c.next_escalation_at.is_not(None),
                    alerts_table.c.next_escalation_at <= micros(now),
                )
                .order_by(alerts_table.c.next_escalation_at)
                .limit(limit)
            ).all()
        return [alert_from_row(r._mapping) for r in rows]

    def set_escalation(
        self,
        conn: Connection,
        alert: Alert,
        *,
        tier: int,
        next_at: datetime | None,
        checkin_request_id: str | None = None,
        checkin_at: datetime | None = None,
    ) -> bool:
        """Advance an open alert's escalation, unless it changed meanwhile.

        Returns:
            False if the alert is no longer open at the tier it was read at (acknowledged
            in the inbox a moment ago): nothing was changed.
        """
        values: dict[str, Any] = {
            "tier": tier,
            "next_escalation_at": None if next_at is None else micros(next_at),
        }
        if checkin_request_id is not None and checkin_at is not None:
            values["checkin_request_id"] = checkin_request_id
            values["checkin_requested_at"] = micros(checkin_at)
        result = conn.execute(
            update(alerts_table)
            .where(
                alerts_table.c.id == alert.id,
                alerts_table.c.state == AlertState.OPEN.value,
                alerts_table.c.tier == alert.tier,
            )
            .values(**values)
        )
        return bool(result.rowcount == 1)
