"""The household page's queries over a district's history: 10,000 households x 30 days.

A private InfluxDB (Debian's influxd, the one ``anbu up`` runs) is filled once with
``activity_5m`` in the series writer's schema, a device-health snapshot and alert history;
its data directory is kept so a second run measures at once. Then the household page's
data (:func:`web.dashboards.views.household_data`: activity per kind, alerts, devices'
health) is built for random households and timed, for 24 hours, 7 days and 30 days.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from queue import Queue
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from anbu.influx import InfluxClient, InfluxError, Point
from anbu.stack.services import free_port, influxdb_spec
from anbu.timeutil import utcnow
from testkit.services import running
from timeseries.demo import activity_lines, alert_points, demo_registry, household_id
from timeseries.rollup import SeriesRollup
from timeseries.schema import HEALTH_RP, ensure_schema
from web.dashboards.queries import DashboardQueries
from web.dashboards.timerange import TimeRange, parse_range
from web.dashboards.views import household_data

GOAL_MS = 300.0
_META = "bench_meta"


@contextmanager
def private_influx(directory: Path) -> Iterator[str]:
    """Debian's influxd on free ports with its data under ``directory``; yields its URL."""
    port = free_port()
    with running(influxdb_spec(directory, port, free_port()), directory / "influxd.log", 60):
        yield f"http://127.0.0.1:{port}"


def _loaded(client: InfluxClient, households: int, days: int) -> bool:
    try:
        rows = client.query(f'SELECT "households", "days", "points" FROM "{_META}"')
    except Exception:  # noqa: BLE001 - a fresh or broken directory is simply reloaded
        return False
    return any(row[1] == households and row[2] == days for s in rows for row in s.get("values", []))


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
    client.write([Point(_META, {"households": households, "days": days, "points": points}, end)])
    return points


def write_health(client: InfluxClient, households: int, now: datetime) -> int:
    """A device-health snapshot by the series writer's own code; returns its points.

    Most devices reported two minutes ago; every 50th never reported, every 40th is low.
    """
    rollup = SeriesRollup()
    for record in demo_registry(households):
        rollup.apply_registry(record)
    for n, health in enumerate(rollup.health.values()):
        if n % 50 == 0:
            continue
        health.last_seen = now.timestamp() - 120
        health.battery = 12.0 if n % 40 == 0 else 80.0
    points = rollup.health_snapshot(now)
    for i in range(0, len(points), 5_000):
        _write(client, points[i : i + 5_000], HEALTH_RP)
    return len(points)


@retry(
    retry=retry_if_exception(lambda exc: isinstance(exc, InfluxError) and exc.retryable),
    wait=wait_exponential(multiplier=0.5, max=10),
    stop=stop_after_attempt(8),
    reraise=True,
)
def _write(client: InfluxClient, points: list[Point], policy: str | None = None) -> None:
    # A busy InfluxDB answers 500 "timeout" and has usually written the batch; rewriting
    # the same points is harmless (same series and times).
    client.write(points, retention_policy=policy)


def _timed(action: Callable[[str], object], picks: list[str]) -> dict[str, float]:
    """Run ``action`` for each pick; mean, p50, p95 and max milliseconds."""
    times = []
    for pick in picks:
        began = time.perf_counter()
        action(pick)
        times.append((time.perf_counter() - began) * 1000)
    return {
        "mean_ms": round(statistics.fmean(times), 1),
        "p50_ms": round(_percentile(times, 0.5), 1),
        "p95_ms": round(_percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
    }


def _get_ok(http: Any, path: str, cookie: dict[str, str]) -> None:
    response = http.get(path, cookies=cookie)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:200]}")


@contextmanager
def _page_client(
    directory: Path, influx_url: str, queries: DashboardQueries
) -> Iterator[tuple[Any, dict[str, str]]]:
    """The dashboards' pages in-process (HTML rendered, HTTP stack, a real registry token)."""
    from fastapi.testclient import TestClient

    from config import load_settings
    from devices.auth import TOKEN_COOKIE
    from web.dashboards.standalone import dashboards_app

    settings = load_settings(
        None,
        {
            "stack.data_dir": str(directory / "var"),
            "influx.url": influx_url,
            "influx.database": "anbu_bench_web",
        },
    )
    with TestClient(dashboards_app(settings, queries)) as http:
        yield http, {TOKEN_COOKIE: settings.admin_token()}


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
        # First touch of each household's blocks since InfluxDB started (cold cache).
        month = parse_range("30d")
        figures["cold_30d"] = _timed(lambda hh: household_data(queries, hh, month), picks)
        for preset in ("24h", "7d", "30d"):
            tr = parse_range(preset)
            for hh in picks:  # an operator's second look: InfluxDB's caches are warm
                household_data(queries, hh, tr)
            kept = 0

            def load(hh: str, tr: TimeRange = tr) -> None:
                nonlocal kept
                data = household_data(queries, hh, tr)
                kept += sum(1 for s in data["activity"]["series"].values() for v in s if v)

            figures["ranges"][preset] = {
                **_timed(load, picks),
                "nonzero_points_per_page": round(kept / samples),
            }
        with _page_client(directory, influx_url, queries) as (http, cookie):
            figures["html_page_30d"] = _timed(
                lambda hh: _get_ok(http, f"/households/{hh}?range=30d", cookie), picks
            )
            figures["overview_24h"] = _timed(
                lambda _hh: _get_ok(http, "/api/v1/dashboard/overview?range=24h", cookie),
                picks[:5],
            )
            figures["devices_page"] = _timed(
                lambda _hh: _get_ok(http, "/devices", cookie), picks[:5]
            )
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
