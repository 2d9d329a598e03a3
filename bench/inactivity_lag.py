"""Inactivity alert lag: from each household's inactivity deadline to its alert on Kafka.

Run by ``anbu bench sos`` on its stack after the SOS (:func:`bench.sos.run`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

from bench.sos_stack import percentile, record_times
from config import Settings
from simulator.publish import connect


def lag_records(count: int, inactivity_s: float) -> list[Any]:
    """Households watched by the fixed rule alone, ``inactivity_s`` of silence, a robot each."""
    from anbu.events import SourceFormat
    from anbu.registry_records import DeviceRecord, GatewayRecord, HouseholdRecord

    records: list[Any] = []
    for i in range(1, count + 1):
        hh, gw = f"lag-{i:04d}", f"lgw-{i:04d}"
        records += [
            HouseholdRecord(
                household_id=hh,
                care_center_id="cc-01",
                dong="seogyo",
                inactivity_hours=inactivity_s / 3600,
                routine_enabled=False,
                checkin_enabled=False,
            ),
            GatewayRecord(gateway_id=gw, household_id=hh, mqtt_username=gw, heartbeat_interval_s=5),
            DeviceRecord(
                device_id=f"{hh}-robot",
                household_id=hh,
                gateway_id=gw,
                kind="robot",
                source_format=SourceFormat.ANBU,
                mqtt_topic=f"anbu/{gw}/robot",
                reporting_interval_s=86400,
            ),
        ]
    return records


def inactivity_lag(settings: Settings, count: int, inactivity_s: float) -> dict[str, Any]:
    """Lag from each household's inactivity deadline to its alert on ``anbu.alerts``.

    Each household's robot reports one interaction (its ``ts`` is the event time), then only
    the gateway's heartbeats come, every 5 s: the deadline is that interaction plus
    ``inactivity_s``, and the lag is the alert record's Kafka timestamp minus the deadline.
    """
    from anbu.timeutil import from_epoch

    def stamp(moment: float) -> str:
        return from_epoch(moment).isoformat(timespec="milliseconds")

    client = connect(settings, "bench-lag")
    stop = threading.Event()

    def heartbeats() -> None:
        seq = 0
        while not stop.is_set():
            for i in range(1, count + 1):
                body = {"type": "heartbeat", "ts": stamp(time.time()), "seq": seq}
                client.publish(f"anbu/lgw-{i:04d}/heartbeat", json.dumps(body).encode(), qos=1)
            seq += 1
            stop.wait(5)

    beat = threading.Thread(target=heartbeats, daemon=True)
    beat.start()
    last: dict[str, float] = {}
    for i in range(1, count + 1):
        now = time.time()
        body = {"type": "interaction", "interaction": "touch", "ts": stamp(now)}
        client.publish(f"anbu/lgw-{i:04d}/robot", json.dumps(body).encode(), qos=1)
        last[f"lag-{i:04d}"] = now
        time.sleep(5.0 / count)
    time.sleep(inactivity_s)
    deadline = time.time() + 20
    raised = record_times(settings, settings.kafka.topics.alerts, "inactivity")
    while time.time() < deadline and not set(last) <= set(raised):
        time.sleep(1)
        raised = record_times(settings, settings.kafka.topics.alerts, "inactivity")
    stop.set()
    beat.join(timeout=10)
    client.loop_stop()
    client.disconnect()
    lags = [
        (raised[hh] - (t + inactivity_s)) * 1000 if hh in raised else math.inf
        for hh, t in last.items()
    ]

    def pick(q: float) -> float | None:
        value = percentile(lags, q)
        return None if value is None or math.isinf(value) else round(value, 1)

    return {
        "households": count,
        "inactivity_s": inactivity_s,
        "alerts": sum(1 for v in lags if not math.isinf(v)),
        "p50_ms": pick(50),
        "p99_ms": pick(99),
        "max_ms": pick(100),
    }
