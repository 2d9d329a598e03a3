"""The household page's queries over a district's history: 10,000 households x 30 days.

A private InfluxDB (Debian's influxd, the one ``anbu up`` runs) is filled once with
``activity_5m`` in the series writer's schema, a device-health snapshot and alert history;
its data directory is kept so a second run measures at once. Then the household page's
data (:func:`web.dashboards.views.household_data`: activity per kind, alerts, devices'
health) is built for random households and timed, for 24 hours, 7 days and 30 days.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from queue import Queue
from typing import Any

import httpx

from anbu.influx import InfluxClient, Point
from anbu.stack.services import free_port, influxdb_spec, wait_ready
from anbu.timeutil import utcnow
from timeseries.demo import activity_lines, alert_points, household_id
from timeseries.schema import DEVICE_HEALTH, HEALTH_RP, ensure_schema
from web.dashboards.queries import DashboardQueries
from web.dashboards.timerange import parse_range
from web.dashboards.views import household_data

GOAL_MS = 300.0
_META = "bench_meta"


@contextmanager
def private_influx(directory: Path) -> Iterator[str]:
    """Debian's influxd on free ports with its data under ``directory``; yields its URL."""
    port = free_port()
    spec = influxdb_spec(directory, port, free_port())
    log = (directory / "influxd.log").open("ab")
    process = subprocess.Popen(
        spec.argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **spec.env}
    )
    try:
        wait_ready(spec, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _loaded(client: InfluxClient, households: int, days: int) -> bool:
    try:
        rows = client.query(f'SELECT "households", "days", "points" FROM "{_META}"')
    except Exception:  # noqa: BLE001 - a fresh or broken directory is simply reloaded
        return False
    return any(
        row[1] == households and row[2] == days for s in rows for row in s.get("values", [])
    )


def load_history(
    client: InfluxClient, households: int, days: int, end: datetime, *, writers: int = 3
) -> int:
    """Write ``days`` of 5-minute activity for ``households``; return the points written."""
    start = end - timedelta(days=days)
    queue: Queue[list[str] | None] = Queue(maxsize=writers * 2)
    errors: list[BaseException] = []

    def write() -> None:
        with httpx.Client(timeout=300) as http:
            while (batch := queue.get()) is not None:
                try:
                    response = http.post(
                        client.url + "/write",
                        params={"db": client.database, "precision": "s"},
                        content="\n".join(batch).encode(),
                    )
                    response.raise_for_status()
                except BaseException as exc:  # noqa: BLE001 - reported after the join
                    errors.append(exc)

    threads = [threading.Thread(target=write, daemon=True) for _ in range(writers)]
    for thread in threads:
        thread.start()
    batch: list[str] = []
    points = 0
    for line in activity_lines(households, start, days):
        batch.append(line)
        if len(batch) >= 20_000:
            queue.put(batch)
            points += len(batch)
            batch = []
    if batch:
        queue.put(batch)
        points += len(batch)
    for _ in threads:
        queue.put(None)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    client.write(alert_points(households, end))
    client.write(
        [Point(_META, {"households": households, "days": days, "points": points}, end)]
    )
    return points


def write_health(client: InfluxClient, households: int, now: datetime) -> None:
    """A current device-health snapshot (the writer rewrites it every minute)."""
    lines = []
    stamp = int(now.timestamp())
    nanos = stamp * 1_000_000_000
    for i in range(households):
        hh = household_id(i)
        for kind in ("motion", "door", "plug", "presence"):
            lines.append(
                f"{DEVICE_HEALTH},device={hh}-{kind},household={hh},kind={kind} "
                f"online=true,last_seen={stamp - 120}i,silent_s=120i,battery=80.0,"
                f"low_battery=false,reporting_interval_s=3600i,dong=\"sinsa-dong\" {nanos}"
            )
    for i in range(0, len(lines), 20_000):
        client.write_lines(lines[i : i + 20_000], retention_policy=HEALTH_RP)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(
    directory: Path,
    *,
    households: int = 10_000,
    days: int = 30,
    samples: int = 40,
    url: str | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Fill (once) and measure; return the figures.

    Args:
        directory: where the private InfluxDB keeps its data between runs.
        households: households in the history.
        days: days of history.
        samples: page loads timed per range.
        url: an InfluxDB to use instead of a private one (database ``anbu_bench_web``).
        progress: called with a line of text as the run goes.
    """
    say = progress or (lambda _text: None)
    directory.mkdir(parents=True, exist_ok=True)
    with _influx(directory, url) as influx_url:
        client = InfluxClient(influx_url, "anbu_bench_web", timeout_s=120)
        ensure_schema(client)
        now = utcnow()
        load_s = 0.0
        points = None
        if not _loaded(client, households, days):
            client.command('DROP DATABASE "anbu_bench_web"')
            ensure_schema(client)
            say(f"writing {households:,} households x {days} days of activity_5m ...")
            began = time.perf_counter()
            points = load_history(client, households, days, now)
            load_s = time.perf_counter() - began
            say(f"wrote {points:,} points in {load_s:.0f} s")
        write_health(client, households, now)
        stored = client.query(f'SELECT last("points") FROM "{_META}"')
        points = int(stored[0]["values"][0][1]) if stored else points
        queries = DashboardQueries(client, health_lookback=timedelta(minutes=10))
        rng = random.Random(5)
        picks = [household_id(rng.randrange(households)) for _ in range(samples)]
        figures: dict[str, Any] = {
            "households": households,
            "days": days,
            "activity_points": points,
            "load_s": round(load_s, 1),
            "samples": samples,
            "goal_ms": GOAL_MS,
            "ranges": {},
        }
        for preset in ("24h", "7d", "30d"):
            tr = parse_range(preset)
            household_data(queries, picks[0], tr)  # the first query after a start pays warm-up
            times = []
            kept = 0
            for hh in picks:
                began = time.perf_counter()
                data = household_data(queries, hh, tr)
                times.append((time.perf_counter() - began) * 1000)
                kept += sum(1 for s in data["activity"]["series"].values() for v in s if v)
            figures["ranges"][preset] = {
                "mean_ms": round(statistics.fmean(times), 1),
                "p50_ms": round(_percentile(times, 0.5), 1),
                "p95_ms": round(_percentile(times, 0.95), 1),
                "max_ms": round(max(times), 1),
                "nonzero_points_per_page": round(kept / samples),
            }
        client.close()
    figures["meets_goal"] = figures["ranges"]["30d"]["p95_ms"] < GOAL_MS
    return figures


@contextmanager
def _influx(directory: Path, url: str | None) -> Iterator[str]:
    if url:
        yield url
    else:
        with private_influx(directory / "influxdb") as private:
            yield private

