"""Deterministic demo data for the dashboards' tests, screenshots and benchmark.

Two ways in, matching the two ways data reaches InfluxDB:

- :func:`demo_registry` and :func:`demo_events`: registry records and device events that go
  through Kafka and the real series writer, like live traffic;
- :func:`activity_lines`, :func:`alert_points` and :func:`ingest_points`: points written
  straight to InfluxDB in the same schema, for what other services write (alerts, bridge
  metrics) and for the benchmark's months of history.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from anbu.events import DeviceEvent, EventKind, SourceFormat, idempotency_key
from anbu.influx import Point
from anbu.registry_records import CareCenterRecord, DeviceRecord, HouseholdRecord
from anbu.timeutil import SEOUL, from_epoch, to_utc
from timeseries.schema import ACTIVITY, ALERT_EVENTS, INGEST_METRICS

DONGS = ("sinsa-dong", "nonhyeon-dong", "apgujeong-dong", "cheongdam-dong")
CENTERS = ("cc-north", "cc-south")

# (kind of device, event kind it reports, room)
_LAYOUT = (
    ("motion", EventKind.MOTION, "living_room"),
    ("door", EventKind.DOOR, "entrance"),
    ("plug", EventKind.POWER, "kitchen"),
    ("presence", EventKind.PRESENCE, "bedroom"),
)


def household_id(index: int) -> str:
    """The demo household id for ``index``."""
    return f"hh-{index:05d}"


def demo_registry(households: int) -> list[CareCenterRecord | HouseholdRecord | DeviceRecord]:
    """Care centers, households and devices: four sensors each, a robot in every third home.

    Household 0's door sensor is registered but never reports (an installer's worst case).
    """
    records: list[CareCenterRecord | HouseholdRecord | DeviceRecord] = [
        CareCenterRecord(care_center_id=c, dongs=list(DONGS[i * 2 : i * 2 + 2]))
        for i, c in enumerate(CENTERS)
    ]
    for i in range(households):
        hh = household_id(i)
        dong = DONGS[i % len(DONGS)]
        center = CENTERS[(i % len(DONGS)) // 2]
        records.append(HouseholdRecord(household_id=hh, care_center_id=center, dong=dong))
        layout = list(_LAYOUT) + ([("robot", EventKind.ROBOT, "living_room")] if i % 3 == 0 else [])
        for kind, _event_kind, room in layout:
            records.append(
                DeviceRecord(
                    device_id=f"{hh}-{kind}",
                    household_id=hh,
                    kind=kind,  # type: ignore[arg-type]
                    source_format=SourceFormat.ZIGBEE2MQTT,
                    mqtt_topic=f"zigbee2mqtt/{hh}_{kind}",
                    room=room,
                    reporting_interval_s=3600,
                )
            )
    return records


def _daytime_weight(moment: datetime) -> float:
    """How likely a resident is up and about at ``moment`` (Seoul local hour)."""
    hour = (moment.timestamp() / 3600 + 9) % 24
    # Asleep 23-06, busy mornings and evenings.
    if hour < 6 or hour >= 23:
        return 0.03
    return 0.35 + 0.45 * max(0.0, math.sin((hour - 6) / 17 * math.pi))


def last_evening(now: datetime) -> datetime:
    """The last 21:00 in Seoul at or before ``now``: the hours before it are active ones.

    Demo residents sleep at night, so a window of "the last few hours" can hold no motion
    at all; tests that count activity end their window here instead.
    """
    local = now.astimezone(SEOUL)
    end = local.replace(hour=21, minute=0, second=0, microsecond=0)
    return end if end <= local else end - timedelta(days=1)


def demo_events(
    households: int,
    start: datetime,
    end: datetime,
    *,
    seed: int = 7,
    silent_household: int | None = 1,
    silent_for: timedelta = timedelta(hours=9),
) -> Iterator[DeviceEvent]:
    """Events of a day-and-night rhythm, every 5 minutes, in time order per household.

    Args:
        households: how many demo households.
        start: first instant.
        end: last instant (exclusive).
        seed: random seed (the same seed gives the same events).
        silent_household: this household stops moving ``silent_for`` before ``end``
            (its sensors keep reporting battery), as before an inactivity alert.
        silent_for: how long that household has been quiet at ``end``.
    """
    rng = random.Random(seed)
    start = to_utc(start)
    end = to_utc(end)
    step = 300
    first = int(start.timestamp()) // step * step
    for i in range(households):
        hh = household_id(i)
        quiet_from = end - silent_for if i == silent_household else end
        watts = 2.0
        for slot in range(first, int(end.timestamp()), step):
            moment = from_epoch(slot)
            if moment < start:
                continue
            active = moment < quiet_from and rng.random() < _daytime_weight(moment)
            events: list[tuple[str, EventKind, float]] = []
            if active:
                events.append((f"{hh}-motion", EventKind.MOTION, 1.0))
                if rng.random() < 0.15 and i != 0:
                    events.append((f"{hh}-door", EventKind.DOOR, float(rng.random() < 0.5)))
                if rng.random() < 0.4:
                    watts = 2.0 if watts > 50 else rng.choice((80.0, 120.0, 650.0))
                    events.append((f"{hh}-plug", EventKind.POWER, watts))
                if i % 3 == 0 and rng.random() < 0.1:
                    events.append((f"{hh}-robot", EventKind.ROBOT, 1.0))
            elif moment < quiet_from and rng.random() < 0.5:
                events.append((f"{hh}-presence", EventKind.PRESENCE, 1.0))
            if slot % 3600 == 0:
                # Hourly battery and link reports: household 2's motion sensor is running low.
                battery = 12.0 if i == 2 else 60.0 + (i * 7) % 40
                events.append((f"{hh}-motion", EventKind.BATTERY, battery))
                events.append((f"{hh}-motion", EventKind.LINKQUALITY, 40.0 + (i * 13) % 200))
                events.append((f"{hh}-plug", EventKind.POWER, watts))
            for n, (device, kind, value) in enumerate(events):
                when = from_epoch(slot + 7 + n)
                yield DeviceEvent(
                    household_id=hh,
                    device_id=device,
                    kind=kind,
                    value=value,
                    event_time=when,
                    receive_time=when,
                    source_format=SourceFormat.SIMULATOR,
                    idempotency_key=idempotency_key("demo", device, kind, slot, n),
                )


def activity_lines(
    households: int, start: datetime, days: int, *, seed: int = 11, density: float = 1.0
) -> Iterator[str]:
    """Line protocol of ``activity_5m`` for ``households`` over ``days`` (benchmark history).

    About 100 points per household and day at ``density`` 1 (motion in a third of the
    waking 5-minute buckets, power, presence, door and robot less), second precision.
    """
    rng = random.Random(seed)
    first = int(to_utc(start).timestamp()) // 300 * 300
    slots = days * 288
    weights = [_daytime_weight(from_epoch(first + s * 300)) for s in range(288)]
    kinds = (("motion", 0.5), ("power", 0.15), ("door", 0.06), ("presence", 0.15), ("robot", 0.04))
    for i in range(households):
        hh = household_id(i)
        for kind, share in kinds:
            prefix = f"{ACTIVITY},household={hh},kind={kind} count="
            for s in range(slots):
                if rng.random() < weights[s % 288] * share * density:
                    yield f"{prefix}{1 + int(rng.random() * 4)}i {first + s * 300}"


def alert_points(households: int, end: datetime, *, seed: int = 3) -> list[Point]:
    """``alert_events`` as the alerts service writes them: opened, then some handled.

    Household 1 (the quiet one) has an open inactivity alert, its robot asked to check in;
    every fourth household had a
    device alert on some day of the last week, acknowledged and resolved.
    """
    rng = random.Random(seed)
    points: list[Point] = []

    def add(hh: int, when: datetime, alert_id: str, kind: str, severity: str, state: str,
            actor: str) -> None:
        dong = DONGS[hh % len(DONGS)]
        center = CENTERS[(hh % len(DONGS)) // 2]
        points.append(
            Point(
                ALERT_EVENTS,
                {"alert_id": alert_id, "actor": actor, "note": "", "value": 1},
                when,
                {"household": household_id(hh), "care_center": center, "dong": dong,
                 "kind": kind, "severity": severity, "state": state},
            )
        )

    end = to_utc(end)
    if households > 1:
        add(1, end - timedelta(hours=1), "al-inact-1", "inactivity", "high", "open", "detector")
        # the robot was asked first: still open, its newest entry is the check-in request
        add(1, end - timedelta(minutes=55), "al-inact-1", "inactivity", "high",
            "checkin_requested", "detector")
    for hh in range(0, households, 4):
        opened = end - timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 20))
        alert_id = f"al-dev-{hh}"
        add(hh, opened, alert_id, "battery_low", "warning", "open", "detector")
        add(hh, opened + timedelta(minutes=20), alert_id, "battery_low", "warning",
            "acknowledged", "installer-kim")
        if hh % 8 == 0:
            add(hh, opened + timedelta(hours=3), alert_id, "battery_low", "warning", "resolved",
                "installer-kim")
    if households > 3:
        sos_at = end - timedelta(hours=5)
        add(3, sos_at, "al-sos-3", "sos", "critical", "open", "detector")
        add(3, sos_at + timedelta(minutes=4), "al-sos-3", "sos", "critical", "acknowledged",
            "staff-lee")
        add(3, sos_at + timedelta(minutes=40), "al-sos-3", "sos", "critical", "resolved",
            "staff-lee")
    return points


def ingest_points(start: datetime, end: datetime) -> list[Point]:
    """``ingest_metrics`` as the bridge writes them: messages per 10 s by format and outcome."""
    points = []
    t = int(to_utc(start).timestamp()) // 60 * 60
    while t < int(to_utc(end).timestamp()):
        for fmt, outcome, count in (
            ("zigbee2mqtt", "ok", 40 + t % 7),
            ("tasmota", "ok", 12),
            ("zigbee2mqtt", "deadletter", t % 3),
        ):
            points.append(
                Point(INGEST_METRICS, {"count": count}, from_epoch(t),
                      {"source_format": fmt, "outcome": outcome})
            )
        t += 60
    return points
