"""Writing alert history to InfluxDB, measurement ``alert_events``.

One point per history entry: tags ``household, care_center, dong, kind, severity, state``
(``state`` is the entry's label: open, acknowledged, resolved, auto_resolved, false_alarm,
escalated, checkin_requested); fields ``alert_id, actor, note`` (strings) and ``value=1i``.

The store's history table is the outbox: entries are read in order, handed to
:class:`anbu.influx.BufferedWriter`, and marked written only after InfluxDB took them. With
InfluxDB down they wait (in the store, so even a restart loses nothing); rewriting an entry
after a crash is harmless, since InfluxDB keeps one point per series and timestamp.
"""

from __future__ import annotations

import logging
import threading

from alerts import metrics
from alerts.model import Alert, HistoryEntry
from alerts.store import AlertStore
from anbu.influx import BufferedWriter, InfluxClient, InfluxError, Point

log = logging.getLogger(__name__)

MEASUREMENT = "alert_events"


def history_point(entry: HistoryEntry, alert: Alert) -> Point:
    """The InfluxDB point of one history entry (pseudonymous ids only)."""
    return Point(
        MEASUREMENT,
        fields={"alert_id": alert.id, "actor": entry.actor, "note": entry.note, "value": 1},
        time=entry.at,
        tags={
            "household": alert.household_id,
            "care_center": alert.care_center_id or "unknown",
            "dong": alert.dong or "unknown",
            "kind": alert.kind,
            "severity": alert.severity,
            "state": entry.label.value,
        },
    )


class InfluxSink:
    """Moves unwritten history from the store to InfluxDB.

    Args:
        store: the alert store.
        client: the InfluxDB client.
        batch: most entries read and written per call (and held in memory).
        max_points: the writer's own limit (never reached: see :meth:`pump`).
    """

    def __init__(
        self,
        store: AlertStore,
        client: InfluxClient,
        batch: int = 5000,
        max_points: int = 1_000_000,
    ) -> None:
        self.store = store
        self.writer = BufferedWriter(client, max_points=max_points)
        self.batch = batch
        self._queued_up_to = 0
        self._database_ready = False
        self._was_down = False
        self._pumping = threading.Lock()

    def pump(self) -> bool:
        """Write waiting history; return True when nothing is left waiting.

        New entries are read only after the previous batch was written, so memory holds
        at most one batch and the writer never has to drop anything: while InfluxDB is
        down the rest waits in the store. Blocking (HTTP): call it from a worker thread;
        a second caller (the shutdown's last pump beside a periodic one whose thread still
        runs) waits for the first, so no batch is written or marked twice.
        """
        with self._pumping:
            return self._pump()

    def _pump(self) -> bool:
        if self.writer.pending and not self._flush():
            return False
        rows = self.store.unwritten_history(self._queued_up_to, self.batch)
        if not rows:
            metrics.INFLUX_PENDING.set(0)
            return True
        self.writer.add(history_point(entry, alert) for entry, alert in rows)
        self._queued_up_to = rows[-1][0].seq
        return self._flush() and len(rows) < self.batch

    def _flush(self) -> bool:
        if not self._database_ready:
            try:
                self.writer.client.create_database()
                self._database_ready = True
            except InfluxError as exc:
                self._note_down(str(exc))
                metrics.INFLUX_PENDING.set(self.store.unwritten_count())
                return False
        if not self.writer.flush():
            self._note_down(self.writer.last_error or "unknown error")
            metrics.INFLUX_PENDING.set(self.store.unwritten_count())
            return False
        self.store.mark_written(self._queued_up_to)
        if self._was_down:
            log.info("InfluxDB is back; alert history written")
            self._was_down = False
        for rejected in self.writer.rejected:
            log.error("InfluxDB rejected alert history: %s", rejected)
        self.writer.rejected.clear()
        metrics.INFLUX_PENDING.set(0)
        return True

    def _note_down(self, error: str) -> None:
        if not self._was_down:
            log.warning("InfluxDB unavailable, keeping alert history until it returns: %s", error)
            self._was_down = True
