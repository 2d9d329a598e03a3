"""Reading alerts for the inbox and the household page: one alert, lists, counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from alerts.database import StoreDatabase
from alerts.exceptions import AlertNotFound
from alerts.model import Alert, micros
from alerts.tables import (
    alert_from_row,
    alerts_table,
    history_from_row,
    history_table,
    notification_from_row,
    notifications_table,
)


class InboxQueries(StoreDatabase):
    """Alerts with their history and notifications, as staff read them."""

    def get(self, alert_id: str, *, full: bool = False) -> Alert:
        """One alert, with its history and notifications if ``full``.

        Raises:
            AlertNotFound: no such alert.
        """
        with self.engine.connect() as conn:
            alert = self._get(conn, alert_id)
            if alert is None:
                raise AlertNotFound(f"no alert {alert_id!r}")
            if full:
                self._attach(conn, [alert])
        return alert

    def list_alerts(
        self,
        *,
        centers: Sequence[str] | None = None,
        households: Sequence[str] | None = None,
        active_only: bool = False,
        closed_since: datetime | None = None,
        limit: int = 200,
    ) -> list[Alert]:
        """Alerts, active first, then most recent; with history and notifications.

        Args:
            centers: alerts of these care centers (with ``households``: either matches;
                both None: all).
            households: alerts of these households.
            active_only: only open or acknowledged alerts.
            closed_since: also closed alerts updated since then (ignored if active_only).
            limit: most alerts returned.
        """
        query = select(alerts_table)
        conditions: list[ColumnElement[bool]] = []
        scope: list[ColumnElement[bool]] = []
        if centers is not None:
            scope.append(alerts_table.c.care_center_id.in_(list(centers)))
        if households is not None:
            scope.append(alerts_table.c.household_id.in_(list(households)))
        if scope:
            conditions.append(or_(*scope))
        if active_only:
            conditions.append(alerts_table.c.active == True)  # noqa: E712
        elif closed_since is not None:
            conditions.append(
                or_(
                    alerts_table.c.active == True,  # noqa: E712
                    alerts_table.c.updated_at >= micros(closed_since),
                )
            )
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(
            alerts_table.c.active.desc(), alerts_table.c.updated_at.desc()
        ).limit(limit)
        with self.engine.connect() as conn:
            alerts = [alert_from_row(r._mapping) for r in conn.execute(query).all()]
            self._attach(conn, alerts)
        return alerts

    def counts(self) -> dict[str, int]:
        """Alerts per state."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alerts_table.c.state, func.count()).group_by(alerts_table.c.state)
            ).all()
        return {str(state): int(count) for state, count in rows}

    def _attach(self, conn: Connection, alerts: list[Alert]) -> None:
        if not alerts:
            return
        by_id = {a.id: a for a in alerts}
        for row in conn.execute(
            select(history_table)
            .where(history_table.c.alert_id.in_(list(by_id)))
            .order_by(history_table.c.seq)
        ).all():
            entry = history_from_row(row._mapping)
            by_id[entry.alert_id].history.append(entry)
        for row in conn.execute(
            select(notifications_table)
            .where(notifications_table.c.alert_id.in_(list(by_id)))
            .order_by(notifications_table.c.created_at, notifications_table.c.channel)
        ).all():
            note = notification_from_row(row._mapping)
            by_id[note.alert_id].notifications.append(note)
