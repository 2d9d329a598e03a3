"""The series writer run as a process or in a thread, and events for it (consumer-runtime,
scale, writer and review-input tests)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from anbu.events import DeviceEvent, EventKind, SourceFormat, idempotency_key
from anbu.timeutil import utcnow
from config import Settings
from timeseries.demo import demo_events

FAST_WRITER: dict[str, Any] = {
    "series.flush_interval": "300ms",
    "series.health_snapshot_interval": "1s",
}
"""Settings of a series writer under test: quick flushes and health snapshots."""


def demo_window(households: int, hours: float) -> tuple[datetime, datetime, list[DeviceEvent]]:
    """The last ``hours`` up to now, and the demo households' events in it.

    Returns:
        (start, end, events).
    """
    end = utcnow()
    start = end - timedelta(hours=hours)
    return start, end, list(demo_events(households, start, end))


def start_series(
    settings: Settings, overrides: dict[str, Any], log_path: Path
) -> subprocess.Popen[bytes]:
    """``anbu series`` as its own process on ``settings``' services and topics."""
    values = {
        "stack.data_dir": str(settings.data_dir),
        "influx.url": str(settings.influx.url),
        "influx.database": settings.influx.database,
        "kafka.bootstrap_servers": settings.kafka.bootstrap_servers[0],
        **{f"kafka.topics.{name}": getattr(settings.kafka.topics, name)
           for name in ("events", "sos", "deadletter", "registry", "alerts")},
        **overrides,
    }
    env = {**os.environ, **{"ANBU_" + k.upper().replace(".", "__"): str(v)
                            for k, v in values.items()}}
    with log_path.open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "anbu", "series"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def motion(household_id: str, when: datetime, key: str) -> DeviceEvent:
    """One motion event of the household's sensor at ``when`` (received then), keyed ``key``."""
    return DeviceEvent(
        household_id=household_id,
        device_id=f"{household_id}-motion",
        kind=EventKind.MOTION,
        value=1,
        event_time=when,
        receive_time=when,
        source_format=SourceFormat.SIMULATOR,
        idempotency_key=key,
    )


def motion_events(tag: str, n: int, households: int = 4) -> list[DeviceEvent]:
    """``n`` motion events now, spread over ``households``, with keys unique to ``tag``."""
    now = utcnow()
    return [
        motion(f"hh-{tag}-{i % households:02d}", now, idempotency_key("consumer-tests", tag, i))
        for i in range(n)
    ]



def assigned(log: Path) -> list[list[int]]:
    """The partition sets a writer logged as assigned, in order."""
    found = re.findall(r"series writer assigned partitions \[([0-9,]*)\]", log.read_text())
    return [[int(p) for p in text.split(",") if p] for text in found]


def stop_and_show(procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    """Kill the writers still running and print the end of each log (for a failure)."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for log in logs:
        lines = log.read_text(errors="replace").splitlines()
        print(log.name, "\n".join(line for line in lines if " aiokafka" not in line)[-3000:])
