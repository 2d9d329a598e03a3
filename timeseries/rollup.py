"""Turn device events and registry records into InfluxDB points, with no I/O inside.

:class:`SeriesRollup` counts activity per household, kind and 5-minute bucket, follows
each device's health, and counts events per 10 seconds for the overview's rate. The
consumer in :mod:`timeseries.writer` feeds it and writes what :meth:`SeriesRollup.drain`
and :meth:`SeriesRollup.health_snapshot` return (the snapshot's points are built by
:mod:`timeseries.device_health`).

A bucket's count is written whole (InfluxDB overwrites a point with the same series and
time), so rewriting it as events arrive is idempotent, and a bucket first seen after a
restart is seeded with what InfluxDB already holds (:meth:`SeriesRollup.seed`).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta

from anbu.events import DeviceEvent, EventKind
from anbu.influx import Point
from anbu.registry_records import DeviceRecord, HouseholdRecord, RegistryRecord
from anbu.timeutil import from_epoch
from timeseries.device_health import DeviceHealth, PartitionOf, health_points
from timeseries.review_input import ReviewInput
from timeseries.schema import (
    ACTIVITY,
    ACTIVITY_KINDS,
    BUCKET,
    EVENTS_RATE,
    RATE_BUCKET,
)

__all__ = [
    "LATE_WINDOW", "POWER_CHANGE_W", "RATE_DRAIN_SLOTS", "RATE_WRITER_SLOTS", "ActivityKey",
    "DeviceHealth", "PartitionOf", "SeriesRollup", "bucket_start",
]

POWER_CHANGE_W = 5.0
"""A plug's power must move by this many watts to count as someone using it."""

LATE_WINDOW = timedelta(hours=2)
"""Buckets this far behind the newest one are written and forgotten."""

ActivityKey = tuple[str, str, int]  # household, kind, bucket start (epoch s)



def bucket_start(moment: datetime, size: timedelta = BUCKET) -> int:
    """The epoch second at which ``moment``'s bucket of ``size`` starts."""
    step = int(size.total_seconds())
    return int(moment.timestamp()) // step * step


RATE_DRAIN_SLOTS = 1000
"""Drains of one writer that get distinct times within a rate bucket (one every 10 ms)."""

RATE_WRITER_SLOTS = int(RATE_BUCKET.total_seconds() * 1_000_000) // RATE_DRAIN_SLOTS
"""Places for writers within a rate bucket (10,000), drawn at random at each start: two
writers (or a writer and its restart) share one with odds of 1 in 10,000, and only then
can one's point for a bucket overwrite the other's."""


class SeriesRollup:
    """Counts and health kept in memory between flushes.

    Args:
        dedupe_keys: how many recent idempotency keys are remembered to drop replays.
        low_battery_percent: at or below this a device counts as low on battery.
    """

    def __init__(self, dedupe_keys: int = 200_000, low_battery_percent: float = 20.0) -> None:
        self.households: dict[str, HouseholdRecord] = {}
        self.devices: dict[str, DeviceRecord] = {}
        self.health: dict[str, DeviceHealth] = {}
        # retired devices, so that health read back from InfluxDB does not bring them back
        self._retired: set[str] = set()
        self.activity: dict[ActivityKey, int] = {}
        self._dirty: set[ActivityKey] = set()
        self._unseeded: set[ActivityKey] = set()
        self._rate: dict[tuple[int, str], int] = {}
        # see drain(): this writer's own place within each rate bucket
        self._rate_token = secrets.randbelow(RATE_WRITER_SLOTS)
        self._rate_drains = 0
        self._last_level: dict[tuple[str, str], float] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._dedupe_keys = dedupe_keys
        self.review = ReviewInput()  # the weekly review's events (timeseries.review_input)
        self.low_battery_percent = low_battery_percent
        self.newest_bucket = 0
        self.seed_before = 0
        self.duplicates = 0
        self.events = 0

    # -- registry -----------------------------------------------------------------------

    def apply_registry(self, record: RegistryRecord) -> None:
        """Take in a household or device record (others are ignored)."""
        if isinstance(record, HouseholdRecord):
            if record.retired:
                self.households.pop(record.household_id, None)
            else:
                self.households[record.household_id] = record
        elif isinstance(record, DeviceRecord):
            if record.retired or record.retired_at is not None:
                self.devices.pop(record.device_id, None)
                self.health.pop(record.device_id, None)
                self._retired.add(record.device_id)
            else:
                self.devices[record.device_id] = record
                self._retired.discard(record.device_id)
                known = self.health.get(record.device_id)
                if known is None:
                    self.health[record.device_id] = DeviceHealth(
                        record.household_id, record.device_id, record.kind
                    )
                else:
                    known.household_id = record.household_id
                    known.kind = record.kind

    def forget(self, key: str) -> None:
        """Apply a tombstone (``"device:<id>"``, ``"household:<id>"``)."""
        kind, _, ident = key.partition(":")
        if kind == "household":
            self.households.pop(ident, None)
        elif kind == "device":
            self.devices.pop(ident, None)
            self.health.pop(ident, None)
            self._retired.add(ident)

    def forget_activity(self, households: Collection[str]) -> None:
        """Drop the buckets of households whose partitions another writer took over.

        Should they come back, their buckets start again from InfluxDB's counts.
        """
        if not households:
            return
        gone = [key for key in self.activity if key[0] in households]
        for key in gone:
            del self.activity[key]
            self._dirty.discard(key)
            self._unseeded.discard(key)

    def forget_health(self, gone: Callable[[DeviceHealth], bool]) -> None:
        """Forget what is known of the devices ``gone`` selects (another writer has them now).

        Registered devices stay, as never heard of, until :meth:`seed_health` or their
        events tell again; unregistered ones are dropped.
        """
        for device_id, health in list(self.health.items()):
            if not gone(health):
                continue
            if device_id in self.devices:
                self.health[device_id] = DeviceHealth(health.household_id, device_id, health.kind)
            else:
                del self.health[device_id]

    def seed_health(self, stored: Iterable[DeviceHealth]) -> None:
        """Take in the health the previous owner of some partitions wrote last.

        What this writer learned from events since is newer and is kept; what it lacks (a
        battery level, the time last seen before the hand-over) comes from ``stored``.
        """
        for old in stored:
            if old.device_id in self._retired:
                continue
            known = self.health.get(old.device_id)
            if known is None:
                self.health[old.device_id] = old
                continue
            newer = old.last_seen is not None and (
                known.last_seen is None or old.last_seen > known.last_seen
            )
            if newer:
                known.last_seen = old.last_seen
                known.available = old.available
            if old.battery is not None and (newer or known.battery is None):
                known.battery = old.battery
            if old.linkquality is not None and (newer or known.linkquality is None):
                known.linkquality = old.linkquality

    # -- events -------------------------------------------------------------------------

    def mark_restart(self, now: datetime) -> None:
        """Buckets up to ``now``'s may already hold counts in InfluxDB: seed them first."""
        self.seed_before = bucket_start(now) + int(BUCKET.total_seconds())

    def add(self, event: DeviceEvent) -> bool:
        """Count one event; return False if it is a replay already counted."""
        if event.idempotency_key in self._seen:
            self.duplicates += 1
            return False
        self._seen[event.idempotency_key] = None
        if len(self._seen) > self._dedupe_keys:
            self._seen.popitem(last=False)
        self.events += 1
        self.review.add(event)
        rate_key = (bucket_start(event.receive_time, RATE_BUCKET), event.kind.value)
        self._rate[rate_key] = self._rate.get(rate_key, 0) + 1
        self._follow_health(event)
        if self._is_activity(event):
            key = (event.household_id, event.kind.value, bucket_start(event.event_time))
            if key not in self.activity:
                self.activity[key] = 0
                if key[2] < self.seed_before:
                    self._unseeded.add(key)
            self.activity[key] += 1
            self._dirty.add(key)
            self.newest_bucket = max(self.newest_bucket, key[2])
        return True

    def add_all(self, events: Iterable[DeviceEvent]) -> int:
        """Count several events; return how many were new."""
        return sum(1 for event in events if self.add(event))

    def _is_activity(self, event: DeviceEvent) -> bool:
        if event.kind not in ACTIVITY_KINDS:
            return False
        if event.kind in (EventKind.POWER, EventKind.SWITCH):
            # Levels count only when they change: a plug repeating the same idle watts
            # is not a person using it.
            key = (event.device_id, event.kind.value)
            previous = self._last_level.get(key)
            self._last_level[key] = event.value
            if previous is None:
                return False
            if event.kind is EventKind.SWITCH:
                return event.value != previous
            return abs(event.value - previous) >= POWER_CHANGE_W
        return True

    def _follow_health(self, event: DeviceEvent) -> None:
        health = self.health.get(event.device_id)
        if health is None:
            registered = self.devices.get(event.device_id)
            kind = registered.kind if registered else event.kind.value
            health = DeviceHealth(event.household_id, event.device_id, kind)
            self.health[event.device_id] = health
        seen = event.event_time.timestamp()
        if health.last_seen is None or seen >= health.last_seen:
            health.last_seen = seen
            if event.kind is EventKind.BATTERY:
                health.battery = event.value
            elif event.kind is EventKind.LINKQUALITY:
                health.linkquality = event.value
            elif event.kind is EventKind.AVAILABILITY:
                health.available = event.value >= 0.5
            else:
                # Any message from the device shows it is reachable again.
                health.available = True

    # -- output -------------------------------------------------------------------------

    def unseeded(self) -> list[ActivityKey]:
        """Buckets that InfluxDB may already hold counts for (see :meth:`mark_restart`)."""
        return sorted(self._unseeded)

    def seed(self, keys: Iterable[ActivityKey], existing: dict[ActivityKey, int]) -> None:
        """Add the counts InfluxDB already held for ``keys`` (from :meth:`unseeded`)."""
        for key in keys:
            if key in self._unseeded:
                self._unseeded.discard(key)
                self.activity[key] = self.activity.get(key, 0) + existing.get(key, 0)

    def drain(self) -> list[Point]:
        """Points for every activity bucket and rate bucket changed since the last drain.

        Buckets older than :data:`LATE_WINDOW` behind the newest are forgotten after
        this; an event for one of them later starts it again from InfluxDB's count.
        """
        # A bucket still waiting for its InfluxDB count is held back: writing it now would
        # overwrite that count with only this run's part.
        ready = self._dirty - self._unseeded
        points = [
            Point(ACTIVITY, {"count": self.activity[key]}, from_epoch(key[2]),
                  {"household": key[0], "kind": key[1]})
            for key in sorted(ready, key=lambda k: k[2])
        ]
        self._dirty -= ready
        # A rate point holds the events counted since the previous drain only, so it must
        # not overwrite an earlier drain's point for the same bucket, nor another writer's:
        # each drain of each writer writes at a microsecond of its own within the bucket,
        # and readers sum (with one time per bucket, 5 s flushes kept only the last half of
        # each 10 s bucket; a stream over 1.5 s with 0.5 s flushes showed 240 of 1,600).
        shift = timedelta(microseconds=self._rate_token * RATE_DRAIN_SLOTS
                          + self._rate_drains % RATE_DRAIN_SLOTS)
        self._rate_drains += 1
        points.extend(
            Point(EVENTS_RATE, {"count": count}, from_epoch(start) + shift, {"kind": kind})
            for (start, kind), count in sorted(self._rate.items())
        )
        self._rate.clear()
        horizon = self.newest_bucket - int(LATE_WINDOW.total_seconds())
        stale = [
            key for key in self.activity
            if key[2] < horizon and key not in self._dirty and key not in self._unseeded
        ]
        for key in stale:
            del self.activity[key]
        if stale:
            # A forgotten bucket that comes back must be seeded from InfluxDB.
            self.seed_before = max(self.seed_before, horizon)
        return points

    def health_snapshot(
        self, now: datetime, partition_of: PartitionOf | None = None,
        partitions: Collection[int] = (),
    ) -> list[Point]:
        """The device-health snapshot at ``now`` (whole seconds) of every known device.

        Three measurements, all stamped with the snapshot's time:

        - ``device_health``: one point per device, reported or not;
        - ``device_attention``: the same, only for devices offline, silent, never
          reported or low on battery (the devices page reads these, not every device);
        - ``device_summary``: counts per care center and dong (and partition), written
          last, so a summary that can be read marks a complete snapshot of its partition.

        A device is online when it has reported within its reporting interval (from the
        registry; an hour if unregistered) and did not say it went offline.

        Args:
            now: the snapshot's time.
            partition_of: with several writers, the partition of a household's events; the
                snapshot then holds only the devices of ``partitions``, and every point is
                tagged with its ``partition`` (readers take the newest snapshot of each).
                None: every device, untagged (one writer, benchmarks).
            partitions: the partitions this writer owns.
        """
        return health_points(
            self.health.values(), self.devices, self.households, now,
            self.low_battery_percent, partition_of, partitions,
        )
