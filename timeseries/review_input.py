"""The weekly review's input in InfluxDB: written by the series writer, read by the web page.

The review core (:mod:`detectors.review`) reads device events in time order: the entrance
door then ten minutes without movement inside is an outing, a silence of a day that only the
gateway's heartbeats broke is an absence, a repeated contact is not activity. None of that
survives ``activity_5m``'s counts per 5 minutes, and those are kept 35 days while the review
needs ten weeks. So the series writer, which reads every event already, also writes the
events the review reads into ``review_events`` (retention policy ``review``, 70 days):

- every event that can be activity or place the resident: motion starting, door, contact,
  presence, robot, check-in answers, buttons (:data:`KEPT_ALL`);
- of the rest (heartbeats, batteries, link quality, availability, motion clearing, plugs),
  the first of each device in each hour: the review asks of them only *whether* the home
  was heard on a day and whether a sensor reported during a silence, which an hourly
  report answers the same.

A point is tagged by household and device (the pseudonymous ids ``device_health`` already
carries); its one field is named by the event's kind, so two kinds one device reported at
the same moment (a Zigbee2MQTT message with occupancy and battery) merge into one point
instead of overwriting each other. Rewriting a point is harmless, so a replay after a
restart writes the same points again.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime

from anbu.events import DeviceEvent, EventKind
from anbu.influx import InfluxClient, Point
from anbu.timeutil import from_epoch, to_utc
from timeseries.exceptions import SeriesError
from timeseries.schema import REVIEW_EVENTS, REVIEW_EVENTS_FROM

Row = tuple[float, str, str, str, float]
"""(epoch s, household, device, kind, value): a row of ``anbu backtest``'s CSV."""

KEPT_ALL: frozenset[str] = frozenset(
    {
        EventKind.DOOR, EventKind.CONTACT, EventKind.PRESENCE, EventKind.ROBOT,
        EventKind.CHECKIN_ANSWER, EventKind.BUTTON,
    }
)
"""Kinds kept whole (with motion starting, value 1)."""

HOUR = 3600
_REMEMBERED = 200_000  # (device, kind, hour) keys kept to thin; older ones are forgotten
_CHUNK = 100  # households per query
_KIND_RE = re.compile(r"^[a-z_]+$")


def kept_whole(kind: str, value: float) -> bool:
    """Whether every event of ``kind`` with ``value`` is kept (not thinned to one an hour)."""
    return kind in KEPT_ALL or (kind == EventKind.MOTION and value >= 0.5)


class ReviewInput:
    """Picks the events the review reads and turns them into points (no I/O inside)."""

    def __init__(self) -> None:
        self._hours: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self._pending: list[Point] = []

    def keep(self, t: float, household: str, device: str, kind: str, value: float) -> bool:
        """Whether the event is written; if so, its point is taken for :meth:`drain`."""
        if not kept_whole(kind, value):
            key = (device, kind, int(t) // HOUR)
            if key in self._hours:
                return False
            self._hours[key] = None
            if len(self._hours) > _REMEMBERED:
                self._hours.popitem(last=False)
        self._pending.append(
            Point(REVIEW_EVENTS, {kind: float(value)}, from_epoch(t),
                  {"household": household, "device": device})
        )
        return True

    def add(self, event: DeviceEvent) -> bool:
        """Take one (new, not replayed) event; return whether it is written."""
        return self.keep(event.event_time.timestamp(), event.household_id, event.device_id,
                         event.kind.value, event.value)

    def drain(self) -> list[Point]:
        """The points taken since the last drain."""
        points, self._pending = self._pending, []
        return points


def rows_to_points(rows: Iterable[Row]) -> list[Point]:
    """Points for backtest rows, thinned as the series writer thins events (tests, demos)."""
    picker = ReviewInput()
    for row in rows:
        picker.keep(*row)
    return picker.drain()


def read_rows(
    client: InfluxClient, households: Sequence[str], start: datetime, end: datetime
) -> list[Row]:
    """The review's events of ``households`` in ``[start, end)``, in time order.

    Raises:
        SeriesError: InfluxDB cut an answer short (a row limit): a review on part of the
            week would be wrong, so none is made.
        anbu.influx.InfluxError: InfluxDB could not answer.
    """
    rows: list[Row] = []
    first, last = int(to_utc(start).timestamp()), int(to_utc(end).timestamp())
    for i in range(0, len(households), _CHUNK):
        chunk = households[i : i + _CHUNK]
        names = " OR ".join(f"\"household\" = '{_quote(h)}'" for h in chunk)
        statement = (
            f"SELECT * FROM {REVIEW_EVENTS_FROM} WHERE ({names}) AND time >= {first}s "
            f'AND time < {last}s GROUP BY "household", "device"'
        )
        for series in client.query(statement):
            if series.get("partial"):
                raise SeriesError("InfluxDB cut the review's events short (max-row-limit)")
            tags = series.get("tags", {})
            hid, device = tags.get("household", ""), tags.get("device", "")
            columns = series.get("columns", [])
            for values in series.get("values", []):
                t = _epoch(values[0])
                for kind, value in sorted(zip(columns[1:], values[1:], strict=True)):
                    if value is not None and _KIND_RE.match(kind):
                        rows.append((t, hid, device, kind, float(value)))
    rows.sort(key=lambda r: r[0])  # stable: one moment's kinds keep their order
    return rows


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
