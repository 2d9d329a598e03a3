"""Device health with two ``anbu series`` processes sharing the partitions, and one killed.

A single writer (its own consumer group and database) and a pair of writers (another group
and database) read the same registry and events. The devices page's figures (the fleet
summary, the devices needing attention, each household's devices) read from the pair's
database must equal the single writer's: no device counted twice, none missing. Then one
of the pair is SIGKILLed and more events arrive; the survivor must write the dead writer's
devices' health within the stated bound (group session timeout 6 s + rebalance timeout
5 s + 19 s for a loaded machine: 30 s), keeping what the dead one knew of them (batteries,
last seen), and the figures must again equal the single writer's.

Positive controls: before the kill each of the pair writes a nonempty, disjoint part of
the devices (the pair's figures are not one writer's work), and just after the kill the
dead writer's devices are not being written by anyone (the takeover check can fail).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from anbu.events import DeviceEvent, EventKind, SourceFormat, idempotency_key
from anbu.influx import InfluxClient, InfluxError
from anbu.partitioning import partition_of
from anbu.registry_records import DeviceRecord
from anbu.timeutil import utcnow
from config import Settings
from testkit.polling import wait_for
from testkit.publishing import publish_events, publish_registry
from tests.kit.series import assigned, start_series, stop_and_show
from timeseries.demo import demo_registry
from web.dashboards.queries import DashboardQueries

HOUSEHOLDS = 40
PARTITIONS = 4
TAKEOVER_BOUND_S = 30.0
FAST = {"series.flush_interval": "500ms", "series.health_snapshot_interval": "2s"}


def _event(device: DeviceRecord, kind: EventKind, value: float, when: datetime,
           tag: str) -> DeviceEvent:
    return DeviceEvent(
        household_id=device.household_id, device_id=device.device_id, kind=kind, value=value,
        event_time=when, receive_time=utcnow(), source_format=SourceFormat.SIMULATOR,
        idempotency_key=idempotency_key("series-health", tag, device.device_id, kind.value),
    )


def _first_events(devices: list[DeviceRecord]) -> list[DeviceEvent]:
    """Motion sensors report now with a battery level (some low); plugs and presence
    sensors report now; doors of every other household reported two days ago (silent);
    the rest (the other doors, the robots) never report."""
    now = utcnow()
    events = []
    for n, device in enumerate(devices):
        if device.kind == "motion":
            events.append(_event(device, EventKind.MOTION, 1, now, "first"))
            events.append(_event(device, EventKind.BATTERY, (n * 7) % 100, now, "first"))
        elif device.kind in ("plug", "presence"):
            events.append(_event(device, EventKind.PRESENCE, 1, now, "first"))
        elif device.kind == "door" and int(device.household_id[-2:]) % 2 == 0:
            events.append(_event(device, EventKind.DOOR, 1, now - timedelta(days=2), "first"))
    return events


def _figures(settings: Settings, database: str) -> dict[str, Any]:
    """What the devices page and the household pages show, but the snapshot times."""
    client = InfluxClient.from_settings(settings)
    client.database = database
    queries = DashboardQueries(client, health_lookback=timedelta(minutes=2))
    try:
        summary = queries.device_summary()
        attention = queries.attention(summary["as_of"], None, summary["snapshots"])
        households = {
            f"hh-{i:05d}": sorted(
                (r.device_id, r.online, r.last_seen, r.battery, r.low_battery)
                for r in queries.device_health(f"hh-{i:05d}"))
            for i in range(HOUSEHOLDS)
        }
    except Exception:  # noqa: BLE001 - no database or snapshot yet
        return {}
    return {
        "summary": {k: v for k, v in summary.items() if k not in ("as_of", "snapshots")},
        "attention": sorted((r.device_id, r.online, r.last_seen, r.battery) for r in attention),
        "households": households,
    }


def _written_since(settings: Settings, database: str, devices: set[str], since: float) -> bool:
    """Whether every one of ``devices`` has a health point written after ``since``."""
    client = InfluxClient.from_settings(settings)
    client.database = database
    try:
        rows = client.query('SELECT last("online") FROM "health"."device_health" '
                            'WHERE time > now() - 5m GROUP BY "device"')
    except InfluxError:
        return False
    newest = {
        one["tags"]["device"]: datetime.fromisoformat(
            one["values"][0][0].replace("Z", "+00:00")).timestamp()
        for one in rows
    }
    return all(newest.get(d, 0) > since for d in devices)


def _snapshots(log: Path) -> list[tuple[set[int], int]]:
    """The health snapshots a writer logged: partitions and device count, in order."""
    found = re.findall(r"device health of partitions \[([0-9,]*)\]: (\d+) devices",
                       log.read_text())
    return [({int(p) for p in parts.split(",") if p}, int(n)) for parts, n in found]


def test_two_series_writers_show_each_device_once_and_take_over_a_killed_ones_health(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(FAST)
    suffix = uuid.uuid4().hex[:6]
    single_db, pair_db = f"{settings.influx.database}_one", f"{settings.influx.database}_two"
    records = demo_registry(HOUSEHOLDS)
    devices = [r for r in records if isinstance(r, DeviceRecord)]
    logs = [tmp_path / "single.log", tmp_path / "pair-1.log", tmp_path / "pair-2.log"]
    single = {**FAST, "influx.database": single_db, "series.group_id": f"one-{suffix}"}
    pair = {**FAST, "influx.database": pair_db, "series.group_id": f"two-{suffix}"}
    procs: list[subprocess.Popen[bytes]] = [start_series(settings, single, logs[0])]
    procs += [start_series(settings, {**pair, "stack.instance": n}, logs[n]) for n in (1, 2)]
    try:
        wait_for(lambda: all(a and len(a[-1]) == 2 for a in map(assigned, logs[1:])), 90,
                 step_s=0.5,
                 what="the pair share the four partitions")
        publish_registry(settings, records)
        publish_events(settings, _first_events(devices), batch_size=5)
        never = sum(1 for d in devices if d.kind == "robot"
                    or (d.kind == "door" and int(d.household_id[-2:]) % 2 == 1))
        low = {e.device_id for e in _first_events(devices)
               if e.kind is EventKind.BATTERY and e.value <= 20}
        expected = {"total": len(devices), "never_reported": never,
                    "silent": HOUSEHOLDS // 2, "low_battery": len(low)}

        def settled() -> bool:
            one = _figures(settings, single_db)
            return bool(one) and all(one["summary"][k] == v for k, v in expected.items()) \
                and _figures(settings, pair_db) == one

        wait_for(settled, 90, step_s=0.5,
                 what="the pair's figures equal the single writer's")
        # control: each of the pair wrote a nonempty part, the parts disjoint and whole
        parts = [_snapshots(log)[-1] for log in logs[1:]]
        assert all(n > 0 for _, n in parts)
        assert not parts[0][0] & parts[1][0]
        assert parts[0][1] + parts[1][1] == len(devices)

        # writer 1 of the pair is killed; events arrive for every household
        dead = set(assigned(logs[1])[-1])
        theirs = {d.device_id for d in devices
                  if partition_of(d.household_id, PARTITIONS) in dead}
        killed = time.time()
        os.killpg(procs[1].pid, signal.SIGKILL)
        procs[1].wait()
        later = utcnow()
        doors = [d for d in devices if d.kind == "door" and int(d.household_id[-2:]) % 4 == 1]
        emptied = [d for d in devices if d.kind == "motion" and int(d.household_id[-2:]) % 4 == 2]
        publish_events(settings, [_event(d, EventKind.DOOR, 1, later, "later") for d in doors]
                       + [_event(d, EventKind.BATTERY, 5, later, "later") for d in emptied],
                       batch_size=5)
        time.sleep(1.0)
        # control: no one writes the dead writer's devices before the group notices
        assert not _written_since(settings, pair_db, theirs, killed)
        wait_for(lambda: _written_since(settings, pair_db, theirs, killed),
                 TAKEOVER_BOUND_S, step_s=0.5,
                 what="the survivor writes the dead writer's devices' health")
        took = time.time() - killed
        print(f"survivor wrote the dead writer's {len(theirs)} devices {took:.1f} s "
              "after the SIGKILL")
        expected.update(never_reported=never - len(doors),
                        low_battery=len(low | {d.device_id for d in emptied}))
        wait_for(settled, 60, step_s=0.5,
                 what="the figures after the takeover equal the single writer's")
        assert sorted(assigned(logs[2])[-1]) == [0, 1, 2, 3]
        assert procs[2].poll() is None
    finally:
        stop_and_show(procs, logs)
