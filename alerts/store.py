"""The alert store: open alerts, their history and notifications, in one SQL database.

``anbu alerts`` (the service) and ``anbu web`` (the inbox) share it: staff acknowledge in
the inbox, and the service's escalation loop reads the state from here before escalating,
so an acknowledgement stops escalation without any message between the two processes.

:class:`AlertStore` is the one object callers hold; what it does is kept in modules named
for it: the tables and row conversion (:mod:`alerts.tables`), the database and its
transactions (:mod:`alerts.database`), the notification queue and its claims
(:mod:`alerts.notification_queue`), escalation timers (:mod:`alerts.escalation_timers`),
history and its InfluxDB outbox (:mod:`alerts.history_outbox`) and the inbox's reading
(:mod:`alerts.inbox_queries`). This module holds the lifecycle's writes: dedupe, opening,
updating and closing alerts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from alerts.database import store_url
from alerts.escalation_timers import EscalationTimers
from alerts.exceptions import AlertNotFound, TransitionRefused
from alerts.history_outbox import HistoryOutbox, keep_history_local
from alerts.inbox_queries import InboxQueries
from alerts.model import Alert, AlertState, HistoryLabel, HouseholdPolicy, micros
from alerts.notification_queue import NotificationQueue
from alerts.tables import (
    alert_from_row,
    alert_row,
    alert_scope,
    alerts_table,
    insert_ignore,
    notification_id,
    seen_table,
    sources_table,
    visits_table,
)


class AlertStore(NotificationQueue, EscalationTimers, HistoryOutbox, InboxQueries):
    """Durable alert state with the lifecycle's atomic operations.

    Args:
        url: SQLAlchemy URL (SQLite or PostgreSQL).
    """

    # --- dedupe and sources ------------------------------------------------------------

    def mark_seen(self, conn: Connection, key: str, now: datetime) -> bool:
        """Record a detector event's dedupe key; return False if it was seen before."""
        return insert_ignore(conn, seen_table, key=key, at=micros(now))

    def alert_for_source(self, conn: Connection, source_id: str) -> Alert | None:
        """The alert a detector's alert id was mapped to, if any."""
        row = conn.execute(
            select(sources_table.c.alert_id).where(sources_table.c.source_id == source_id)
        ).first()
        return None if row is None else self._get(conn, row[0])

    def map_source(self, conn: Connection, source_id: str, alert_id: str) -> None:
        """Remember that a detector alert id belongs to ``alert_id``."""
        insert_ignore(conn, sources_table, source_id=source_id, alert_id=alert_id)

    def active_for(
        self, conn: Connection, household_id: str, kind: str, scope: str = ""
    ) -> Alert | None:
        """The household's active alert of ``kind`` (and ``scope``), if any."""
        row = conn.execute(
            select(alerts_table).where(
                alerts_table.c.household_id == household_id,
                alerts_table.c.kind == kind,
                alerts_table.c.scope == scope,
                alerts_table.c.active == True,  # noqa: E712
            )
        ).first()
        return None if row is None else alert_from_row(row._mapping)

    # --- lifecycle writes -----------------------------------------------------------

    def insert_alert(self, conn: Connection, alert: Alert) -> None:
        """Insert a new alert (its ``id`` must be new)."""
        conn.execute(insert(alerts_table).values(**alert_row(alert)))

    def touch(
        self,
        conn: Connection,
        alert_id: str,
        now: datetime,
        *,
        reason: str,
        reason_ko: str,
        severity: str,
        details: dict[str, Any],
    ) -> None:
        """Record a repeat or update from the detector on an active alert."""
        conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id)
            .values(
                reason=reason,
                reason_ko=reason_ko,
                severity=severity,
                details=json.dumps(details, sort_keys=True),
                updated_at=micros(now),
                repeats=alerts_table.c.repeats + 1,
            )
        )

    def close_alert(
        self,
        conn: Connection,
        alert_id: str,
        state: AlertState,
        now: datetime,
        actor: str,
        note: str,
        *,
        allowed_from: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
    ) -> Alert:
        """Move an active alert to a closed state, with history.

        Raises:
            AlertNotFound: no such alert.
            TransitionRefused: it is not in one of ``allowed_from``.
        """
        return self._transition(
            conn,
            alert_id,
            allowed_from,
            HistoryLabel(state.value),
            now,
            actor,
            note,
            refused=f"it cannot become {state.value}",
            state=state.value,
            active=False,
            closed_by=actor,
            closed_at=micros(now),
            close_note=note,
        )

    def acknowledge(
        self, conn: Connection, alert_id: str, now: datetime, actor: str, note: str
    ) -> Alert:
        """Acknowledge an open alert: someone took responsibility, escalation stops.

        Raises:
            AlertNotFound: no such alert.
            TransitionRefused: it is not open.
        """
        return self._transition(
            conn,
            alert_id,
            (AlertState.OPEN,),
            HistoryLabel.ACKNOWLEDGED,
            now,
            actor,
            note,
            refused="only an open alert can be acknowledged",
            state=AlertState.ACKNOWLEDGED.value,
            acked_by=actor,
            acked_at=micros(now),
            ack_note=note,
        )

    def _transition(
        self,
        conn: Connection,
        alert_id: str,
        allowed_from: Sequence[AlertState],
        label: HistoryLabel,
        now: datetime,
        actor: str,
        note: str,
        *,
        refused: str,
        **values: Any,
    ) -> Alert:
        """Change an alert in one of ``allowed_from`` by ``values``, with history.

        Its escalation stops. The state is checked in the UPDATE itself, so the inbox and
        the service cannot both move one alert.
        """
        current = self._get(conn, alert_id)
        if current is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        result = conn.execute(
            update(alerts_table)
            .where(
                alerts_table.c.id == alert_id,
                alerts_table.c.state.in_([s.value for s in allowed_from]),
            )
            .values(next_escalation_at=None, updated_at=micros(now), **values)
        )
        if result.rowcount != 1:
            raise TransitionRefused(
                f"alert {alert_id} is {current.state.value}; {refused}",
                state=current.state.value,
            )
        self.add_history(conn, alert_id, now, label, actor, note)
        updated = self._get(conn, alert_id)
        assert updated is not None
        return updated

    def set_severity(self, conn: Connection, alert_id: str, severity: str, now: datetime) -> None:
        """Change an alert's severity (a resident asked for help)."""
        conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id)
            .values(severity=severity, updated_at=micros(now))
        )


__all__ = [
    "AlertStore",
    "HouseholdPolicy",
    "alert_scope",
    "keep_history_local",
    "notification_id",
    "store_url",
    "visits_table",
]
