"""Device health: what is known of each device, and its snapshot as InfluxDB points.

:class:`timeseries.rollup.SeriesRollup` follows each device's health as events arrive;
:func:`health_points` turns what it holds into the snapshot the devices pages read. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from anbu.influx import Point
from anbu.registry_records import DeviceRecord, HouseholdRecord
from timeseries.schema import DEVICE_ATTENTION, DEVICE_HEALTH, DEVICE_SUMMARY, SUMMARY_FIELDS

PartitionOf = Callable[[str], int]
"""A household's partition of ``anbu.events`` (see :func:`anbu.partitioning.partition_of`)."""


@dataclass(slots=True)
class DeviceHealth:
    """What is known of one device's health.

    Attributes:
        household_id: its household.
        device_id: the device.
        kind: the registry's device kind (``motion``, ``plug``, ...), or the first event
            kind seen for an unregistered device.
        last_seen: epoch seconds of its newest event, None if it never reported.
        battery: newest battery percent.
        linkquality: newest Zigbee link quality.
        available: False after an explicit "offline" availability message.
    """

    household_id: str
    device_id: str
    kind: str
    last_seen: float | None = None
    battery: float | None = None
    linkquality: float | None = None
    available: bool = True


def health_points(
    healths: Iterable[DeviceHealth],
    devices: Mapping[str, DeviceRecord],
    households: Mapping[str, HouseholdRecord],
    now: datetime,
    low_battery_percent: float,
    partition_of: PartitionOf | None = None,
    partitions: Collection[int] = (),
) -> list[Point]:
    """The device-health snapshot at ``now`` of ``healths``, as InfluxDB points.

    :meth:`timeseries.rollup.SeriesRollup.health_snapshot` says what the points are.

    Args:
        healths: every known device's health.
        devices: the registry's devices, by id (reporting interval, room).
        households: the registry's households, by id (care center, dong).
        now: the snapshot's time.
        low_battery_percent: at or below this a device counts as low on battery.
        partition_of: the partition of a household's events, or None (every device).
        partitions: the partitions whose devices are wanted.
    """
    now = now.replace(microsecond=0)
    points = []
    attention = []
    summary: dict[tuple[str, str, str], dict[str, int]] = {}
    clock = now.timestamp()
    owned = set(partitions)
    for health in healths:
        part = ""
        if partition_of is not None:
            number = partition_of(health.household_id)
            if number not in owned:
                continue
            part = str(number)
        device = devices.get(health.device_id)
        household = households.get(health.household_id)
        interval = device.reporting_interval_s if device else 3600
        silent_s = (
            max(0, int(clock - health.last_seen)) if health.last_seen is not None else None
        )
        online = health.available and silent_s is not None and silent_s <= interval
        fields: dict[str, object] = {
            "online": online,
            "last_seen": int(health.last_seen) if health.last_seen is not None else None,
            "silent_s": silent_s,
            "battery": float(health.battery) if health.battery is not None else None,
            "low_battery": (
                health.battery is not None and health.battery <= low_battery_percent
            ),
            "linkquality": (
                float(health.linkquality) if health.linkquality is not None else None
            ),
            "reporting_interval_s": interval,
            "room": device.room if device else None,
            "dong": household.dong if household else None,
            "care_center": household.care_center_id if household else None,
            # kept apart from online, for the next owner to read back (seed_health)
            "available": health.available,
        }
        tags = {"household": health.household_id, "device": health.device_id,
                "kind": health.kind}
        if part:
            tags["partition"] = part
        points.append(Point(DEVICE_HEALTH, fields, now, tags))
        if not online or fields["low_battery"]:
            attention.append(Point(DEVICE_ATTENTION, fields, now, tags))
        place = (
            household.care_center_id if household else "?",
            household.dong if household else "?",
            part,
        )
        counts = summary.setdefault(place, dict.fromkeys(SUMMARY_FIELDS, 0))
        counts["total"] += 1
        counts["online" if online else "offline"] += 1
        counts["never_reported"] += health.last_seen is None
        counts["low_battery"] += bool(fields["low_battery"])
        if health.battery is not None:
            counts[f"battery_{min(9, max(0, int(health.battery // 10)))}"] += 1
    points.extend(attention)
    points.extend(
        Point(DEVICE_SUMMARY, counts, now,
              {"care_center": center, "dong": dong, **({"partition": part} if part else {})})
        for (center, dong, part), counts in sorted(summary.items())
    )
    return points
