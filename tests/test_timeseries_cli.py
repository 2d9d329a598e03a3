"""``anbu series`` as the stack runs it: a process that writes, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from anbu.influx import InfluxClient
from anbu.timeutil import utcnow
from config import Settings
from testkit.publishing import publish_events, publish_registry
from timeseries.demo import demo_events, demo_registry, last_evening


def _flags(settings: Settings) -> list[str]:
    values = {
        "kafka.bootstrap_servers": settings.kafka.bootstrap_servers[0],
        "kafka.topics.events": settings.kafka.topics.events,
        "kafka.topics.registry": settings.kafka.topics.registry,
        "series.group_id": settings.series.group_id,
        "influx.url": settings.influx.url,
        "influx.database": settings.influx.database,
        "series.flush_interval": "500ms",
        "series.health_snapshot_interval": "1s",
    }
    flags = [f"--data-dir={settings.data_dir}"]
    for key, value in values.items():
        flags += ["--set", f"{key}={value}"]
    return flags


def test_series_command_writes_and_stops_on_sigterm(settings: Settings) -> None:
    setup = subprocess.run(
        [sys.executable, "-m", "anbu", *_flags(settings), "series", "setup"],
        capture_output=True, text=True, timeout=60,
    )
    assert setup.returncode == 0, setup.stderr
    assert "retention policies and rollups ready" in setup.stdout
    process = subprocess.Popen(
        [sys.executable, "-m", "anbu", *_flags(settings), "series"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    try:
        # "the last three hours" held no motion at all when the suite ran 17-22 h UTC
        end = last_evening(utcnow())
        events = list(demo_events(2, end - timedelta(hours=3), end))
        publish_registry(settings, demo_registry(2))
        publish_events(settings, events)
        client = InfluxClient.from_settings(settings)
        motion = sum(1 for e in events if e.kind.value == "motion")
        assert motion > 0

        def written() -> bool:
            health = client.query('SELECT count("online") FROM "health"."device_health"')
            counted = client.query(
                "SELECT sum(\"count\") FROM \"activity_5m\" WHERE \"kind\" = 'motion'"
            )
            return bool(health) and bool(counted) and counted[0]["values"][0][1] == motion

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not written():
            time.sleep(0.5)
        ok = written()
        seen = (client.query('SELECT count("online") FROM "health"."device_health"'),
                client.query("SELECT sum(\"count\") FROM \"activity_5m\" "
                             "WHERE \"kind\" = 'motion'"))
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert ok, (f"motion counts ({motion} sent) and device health not written within 60 s: "
                f"{seen}\n{err[-3000:]}")
    assert process.returncode == 0, err
