"""The notification queue of the alert store: what is to be sent, claims, attempts.

Several alerts services may share one store; each sends only a notification it has
claimed (:meth:`NotificationQueue.claim`), so a notification goes out once, and a claim
left by a service that died while sending expires so that another sends it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select, update

from alerts.database import StoreDatabase
from alerts.model import Notification, NotificationStatus, micros
from alerts.tables import (
    insert_ignore,
    notification_from_row,
    notification_id,
    notifications_table,
)


class NotificationQueue(StoreDatabase):
    """Queue, claim and record notifications of the alerts."""

    def add_notification(
        self,
        conn: Connection,
        alert_id: str,
        tier: int,
        channel: str,
        target: str,
        now: datetime,
    ) -> str | None:
        """Queue a notification; return its id, or None if it already exists."""
        ident = notification_id(alert_id, tier, channel, target)
        inserted = insert_ignore(
            conn,
            notifications_table,
            id=ident,
            alert_id=alert_id,
            tier=tier,
            channel=channel,
            target=target,
            status=NotificationStatus.PENDING.value,
            attempts=0,
            created_at=micros(now),
        )
        return ident if inserted else None

    def notification_for(
        self, conn: Connection, channel: str, target: str, alert_id: str | None = None
    ) -> Notification | None:
        """The first notification of ``channel`` to ``target`` (of one alert, if given)."""
        query = select(notifications_table).where(
            notifications_table.c.channel == channel, notifications_table.c.target == target
        )
        if alert_id is not None:
            query = query.where(notifications_table.c.alert_id == alert_id)
        row = conn.execute(query.limit(1)).first()
        return None if row is None else notification_from_row(row._mapping)

    def has_channel(self, conn: Connection, alert_id: str, channel: str) -> bool:
        """Whether a notification of ``channel`` was ever queued for the alert."""
        row = conn.execute(
            select(notifications_table.c.id)
            .where(
                notifications_table.c.alert_id == alert_id,
                notifications_table.c.channel == channel,
            )
            .limit(1)
        ).first()
        return row is not None

    def pending_notifications(self) -> list[Notification]:
        """Notifications not yet delivered nor given up on (oldest first)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(notifications_table)
                .where(notifications_table.c.status == NotificationStatus.PENDING.value)
                .order_by(notifications_table.c.created_at)
            ).all()
        return [notification_from_row(r._mapping) for r in rows]

    def get_notification(self, notification_id_: str) -> Notification | None:
        """One notification, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(notifications_table).where(notifications_table.c.id == notification_id_)
            ).first()
        return None if row is None else notification_from_row(row._mapping)

    def claim(self, notification_id_: str, now: datetime, lease_s: float) -> bool:
        """Claim a pending notification's delivery for ``lease_s``.

        Returns False if it is not pending or another alerts service holds an unexpired
        claim on it. Several alerts services share the store; each sends only what it has
        claimed, so a notification goes out once. A service that dies while sending leaves a
        claim that expires, and another sends it then.
        """
        at = micros(now)
        with self.transaction() as conn:
            result = conn.execute(
                update(notifications_table)
                .where(
                    notifications_table.c.id == notification_id_,
                    notifications_table.c.status == NotificationStatus.PENDING.value,
                    or_(
                        notifications_table.c.claimed_until.is_(None),
                        notifications_table.c.claimed_until < at,
                    ),
                )
                .values(claimed_until=at + int(lease_s * 1_000_000))
            )
        return bool(result.rowcount == 1)

    def record_attempt(
        self,
        notification_id_: str,
        now: datetime,
        *,
        status: NotificationStatus,
        error: str | None,
        hold_s: float | None = None,
    ) -> None:
        """Record one delivery attempt's outcome (and renew the claim for ``hold_s``)."""
        values: dict[str, Any] = {
            "attempts": notifications_table.c.attempts + 1,
            "status": status.value,
            "last_error": error,
        }
        if hold_s is not None:
            values["claimed_until"] = micros(now) + int(hold_s * 1_000_000)
        if status is NotificationStatus.SENT:
            values["sent_at"] = micros(now)
        with self.transaction() as conn:
            conn.execute(
                update(notifications_table)
                .where(notifications_table.c.id == notification_id_)
                .values(**values)
            )
