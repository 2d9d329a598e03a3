"""Latency of the alerts stage alone: SOS AlertEvent on Kafka → signed webhook received.

For ``anbu bench sos`` (which measures the whole pipeline from MQTT) and for finding out
whether a slow SOS is this stage's fault. Runs against services that are already up (``anbu
up``, or test fixtures), on fresh topic names and a fresh data directory, so it touches no
real alerts::

    python -m bench.alert_stage --count 1000 --rate 50 --config anbu.toml

The webhook receiver is an aiohttp server in a child process, so the service does not share
its interpreter lock with the receiver.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from alerts.directory import StaticDirectory
from alerts.model import HouseholdPolicy
from alerts.service import BackgroundService
from anbu.events import AlertAction, AlertEvent, AlertKind, Severity, alert_id
from anbu.stack.services import free_port
from anbu.timeutil import utcnow
from config import Settings, load_settings


@dataclass(frozen=True)
class StageResult:
    """Milliseconds from producing each SOS to its webhook arriving."""

    sent: int
    received: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def line(self) -> str:
        """One printable line."""
        return (
            f"alerts stage: {self.received}/{self.sent} SOS webhooks, "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms"
        )


def _receive(port: int) -> None:
    from aiohttp import web

    arrived: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrived.setdefault(json.loads(body)["household_id"], time.time())
        return web.Response(text="ok")

    async def dump(_request: web.Request) -> web.Response:
        return web.json_response(arrived)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/arrived", dump)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def measure(settings: Settings, count: int, rate: float, timeout_s: float = 120.0) -> StageResult:
    """Produce ``count`` SOS events at ``rate`` per second and time their webhooks."""
    from kafka import KafkaProducer

    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.alert_stage", "--receive", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    suffix = uuid.uuid4().hex[:8]
    topics = settings.kafka.topics
    overrides: dict[str, Any] = {
        "alerts": {
            **settings.alerts.model_dump(),
            "webhook_url": f"http://127.0.0.1:{port}/hook",
            "metrics_port": None,
            "tick_interval": "0.1s",
            "group_id": f"anbu-alerts-bench-{suffix}",
            "database_url": None,
        },
        "kafka": {
            **settings.kafka.model_dump(),
            "topics": {
                **topics.model_dump(),
                "alerts": f"{topics.alerts}.bench-{suffix}",
                "deadletter": f"{topics.deadletter}.bench-{suffix}",
                "registry": f"{topics.registry}.bench-{suffix}",
                "events": f"{topics.events}.bench-{suffix}",
                "sos": f"{topics.sos}.bench-{suffix}",
            },
        },
        "influx": {**settings.influx.model_dump(), "database": f"anbu_bench_{suffix}"},
        "stack": {**settings.stack.model_dump(), "data_dir": tempfile.mkdtemp("-alerts-bench")},
    }
    bench = settings.model_copy(
        update={k: type(getattr(settings, k)).model_validate(v) for k, v in overrides.items()}
    )
    households = [f"hh-bench-{n}" for n in range(count)]
    directory = StaticDirectory(
        policies={h: HouseholdPolicy("cc-bench", "bench", (3600,), False, 1) for h in households}
    )
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    try:
        with BackgroundService(bench, directory):
            producer = KafkaProducer(bootstrap_servers=bench.kafka.bootstrap_servers, linger_ms=0)
            start = time.time()
            for n, household in enumerate(households):
                now = utcnow()
                event = AlertEvent(
                    alert_id=alert_id(household, AlertKind.SOS, now),
                    household_id=household,
                    kind=AlertKind.SOS,
                    severity=Severity.CRITICAL,
                    action=AlertAction.RAISE,
                    raised_at=now,
                    reason="benchmark SOS",
                    reason_ko="벤치마크 SOS",
                )
                sent[household] = time.time()
                producer.send(bench.kafka.topics.alerts, event.to_json(), key=household.encode())
                producer.flush()
                pause = start + (n + 1) / rate - time.time()
                if pause > 0:
                    time.sleep(pause)
            producer.close()
            deadline = time.time() + timeout_s
            while len(arrived) < count and time.time() < deadline:
                time.sleep(0.5)
                arrived = httpx.get(f"http://127.0.0.1:{port}/arrived").json()
    finally:
        receiver.terminate()
        receiver.wait(10)
    latencies = sorted((arrived[h] - sent[h]) * 1000 for h in sent if h in arrived)
    if not latencies:
        return StageResult(count, 0, float("nan"), float("nan"), float("nan"))
    return StageResult(
        sent=count,
        received=len(latencies),
        p50_ms=latencies[len(latencies) // 2],
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)],
        max_ms=latencies[-1],
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m bench.alert_stage --count N --rate R [--set k=v ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="SOS per second")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--receive", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receive is not None:
        _receive(args.receive)
        return
    overrides = dict(item.split("=", 1) for item in args.set)
    settings = load_settings(args.config, overrides)
    result = measure(settings, args.count, args.rate)
    print(f"{result.line()} (at {args.rate:g} SOS/s)")


if __name__ == "__main__":
    main()
