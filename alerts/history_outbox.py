"""Alert history in the store, which doubles as the outbox for InfluxDB.

Each history row is written to InfluxDB once and marked, so nothing is lost while InfluxDB
is down, even across restarts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from alerts.database import StoreDatabase
from alerts.model import Alert, HistoryEntry, HistoryLabel, micros
from alerts.tables import alert_from_row, alerts_table, history_from_row, history_table


class HistoryOutbox(StoreDatabase):
    """Append alert history and hand it to InfluxDB in order."""

    # the newest history time this process wrote (see add_history)
    _last_history_at: int = 0

    def add_history(
        self,
        conn: Connection,
        alert_id: str,
        at: datetime,
        label: HistoryLabel,
        actor: str,
        note: str,
        *,
        first: bool = False,
    ) -> None:
        """Append a history entry (also queued for InfluxDB).

        Times are made strictly increasing per alert and per process, since InfluxDB keeps
        one point per series and timestamp: two changes in the same microsecond would
        otherwise overwrite each other. ``first``: the alert has no history yet.
        """
        at_us = micros(at)
        last = 0
        if not first:
            last = (
                conn.execute(
                    select(func.max(history_table.c.at)).where(history_table.c.alert_id == alert_id)
                ).scalar()
                or 0
            )
        at_us = max(at_us, last + 1, self._last_history_at + 1)
        self._last_history_at = at_us
        conn.execute(
            insert(history_table).values(
                alert_id=alert_id, at=at_us, label=label.value, actor=actor, note=note
            )
        )

    def unwritten_history(self, after_seq: int, limit: int) -> list[tuple[HistoryEntry, Alert]]:
        """History entries not yet written to InfluxDB, after ``after_seq``, with their alert."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(history_table, alerts_table)
                .join(alerts_table, alerts_table.c.id == history_table.c.alert_id)
                .where(history_table.c.written == False, history_table.c.seq > after_seq)  # noqa: E712
                .order_by(history_table.c.seq)
                .limit(limit)
            ).all()
        out = []
        for row in rows:
            m = row._mapping
            entry = history_from_row({c.name: m[c] for c in history_table.c})
            alert = alert_from_row({c.name: m[c] for c in alerts_table.c})
            out.append((entry, alert))
        return out

    def mark_written(self, up_to_seq: int) -> None:
        """Mark history up to ``up_to_seq`` as written to InfluxDB."""
        with self.transaction() as conn:
            conn.execute(
                update(history_table)
                .where(history_table.c.seq <= up_to_seq, history_table.c.written == False)  # noqa: E712
                .values(written=True)
            )

    def unwritten_count(self) -> int:
        """History entries still waiting for InfluxDB."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(history_table.c.written == False)  # noqa: E712
                ).scalar()
                or 0
            )


def keep_history_local(conn: Connection, alert_id: str) -> None:
    """Mark the alert's newest history entry as never to go to InfluxDB.

    For entries that are not state changes (a visit noted on an open alert): the
    dashboards take an alert's newest ``alert_events`` point as its state, so such a point
    would make an open alert look closed there.
    """
    newest = (
        select(func.max(history_table.c.seq))
        .where(history_table.c.alert_id == alert_id)
        .scalar_subquery()
    )
    conn.execute(update(history_table).where(history_table.c.seq == newest).values(written=True))
