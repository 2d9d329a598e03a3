"""What the SOS benchmarks share: a warmed-up private stack, a webhook receiver, timings.

:mod:`bench.sos` (SOS under telemetry) and :mod:`bench.sos_flood` (SOS during a junk flood)
press SOS buttons on a private stack with bridge, worker and alerts and time each SOS from
its publish to the alert stored and the webhook received; :mod:`bench.inactivity_lag` reads
the same topics.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from anbu.stack.services import free_port
from bench.pipeline import wait_worker_ready
from config import Settings
from simulator.publish import connect
from simulator.world import Simulation
from testkit.http_stand_in import HttpStandIn, Posted
from testkit.polling import wait_for
from testkit.publishing import publish_registry
from testkit.stack import PrivateStack, private_stack

WEBHOOK_SECRET = "bench-webhook-secret"


WARMUP_SOS = 5
"""SOS pressed before measuring: the first goes through every stage once (joins, sockets)."""


class WebhookReceiver:
    """A real HTTP server that records when each alert's webhook arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: dict[str, float] = {}
        self.bodies = 0
        self.sos_bodies = 0
        self.server: HttpStandIn | None = None

    def answer(self, request: Posted) -> int:
        """Note when each household's first SOS webhook arrived (by the wall clock)."""
        self.bodies += 1
        try:
            data = request.json()
            if data.get("kind") == "sos":
                self.sos_bodies += 1
                self.received.setdefault(str(data.get("household_id")), request.wall)
        except ValueError:
            pass
        return 200

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        return f"http://127.0.0.1:{self.port}/anbu-webhook"

    def __enter__(self) -> WebhookReceiver:
        self.server = HttpStandIn(self.answer, port=self.port)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.server is not None:
            self.server.close()


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` percentile of ``values`` (nearest rank), None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def rounded(value: float | None) -> float | None:
    """A figure in ms to one decimal; None if unknown or never reached (infinite)."""
    return None if value is None or math.isinf(value) else round(value, 1)


def stored_times(db_path: str, households: set[str]) -> dict[str, float]:
    """When the alerts service stored each household's SOS alert (wall clock, epoch s)."""
    try:
        with sqlite3.connect(db_path, timeout=30) as conn:
            rows = conn.execute(
                "SELECT household_id, opened_at FROM alerts WHERE kind = 'sos'"
            ).fetchall()
    except sqlite3.Error:
        return {}
    return {hh: opened / 1e6 for hh, opened in rows if hh in households}


def record_times(
    settings: Settings, topic: str, kind: str | None, counts: dict[str, int] | None = None
) -> dict[str, float]:
    """When each household's first record reached ``topic`` (Kafka CreateTime, epoch s).

    ``counts``, if given, gets the number of records of each household.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=list(settings.kafka.bootstrap_servers),
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    times: dict[str, float] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for message in consumer:
            try:
                data = json.loads(message.value)
            except (TypeError, ValueError):
                continue
            if kind is not None and data.get("kind") != kind:
                continue
            household = str(data.get("household_id"))
            times.setdefault(household, message.timestamp / 1000.0)
            if counts is not None:
                counts[household] = counts.get(household, 0) + 1
    finally:
        consumer.close()
    return times


def stage_ms(
    published: dict[str, float], *stages: dict[str, float], q: float = 50
) -> list[float | None]:
    """The ``q`` percentile (default the median) of publish -> each stage's moment, in ms.

    Measured from the publish rather than from the previous stage: the stages need not run
    in sequence (the alerts service may store an SOS before the worker's alert record).
    """
    out: list[float | None] = []
    for stage in stages:
        spans = [(stage[hh] - t0) * 1000 for hh, t0 in published.items() if hh in stage]
        value = percentile(spans, q)
        out.append(None if value is None else round(value, 1))
    return out


def latencies(
    published: dict[str, float], receiver: WebhookReceiver, stored: dict[str, float]
) -> dict[str, Any]:
    """Percentiles of publish -> webhook, -> stored, and -> both (the user-facing figure)."""
    webhook_ms: list[float] = []
    stored_ms: list[float] = []
    both_ms: list[float] = []
    for hh, t0 in published.items():
        hook = receiver.received.get(hh)
        kept = stored.get(hh)
        if hook is not None:
            webhook_ms.append((hook - t0) * 1000)
        if kept is not None:
            stored_ms.append((kept - t0) * 1000)
        # An SOS that never completed counts as infinitely late: a percentile that lands on
        # one is not a number (reported as missing), never a flattering one.
        both_ms.append(
            (max(hook, kept) - t0) * 1000 if hook is not None and kept is not None else math.inf
        )
    complete = [v for v in both_ms if not math.isinf(v)]
    return {
        "webhooks_received": len(webhook_ms),
        "alerts_stored": len(stored_ms),
        "complete": len(complete),
        "p50_ms": rounded(percentile(both_ms, 50)),
        "p99_ms": rounded(percentile(both_ms, 99)),
        "max_ms": rounded(max(both_ms) if both_ms else None),
        "slowest_complete_ms": rounded(max(complete) if complete else None),
        "webhook_p50_ms": rounded(percentile(webhook_ms, 50)),
        "webhook_p99_ms": rounded(percentile(webhook_ms, 99)),
        "stored_p50_ms": rounded(percentile(stored_ms, 50)),
        "stored_p99_ms": rounded(percentile(stored_ms, 99)),
        "webhook_bodies": receiver.bodies,
        "sos_webhook_bodies": receiver.sos_bodies,
    }


def stages(
    published: dict[str, float],
    in_sos: dict[str, float],
    in_alerts: dict[str, float],
    stored: dict[str, float],
    q: float = 50,
) -> dict[str, float | None]:
    """The ``q`` percentile of publish -> each stage an SOS passes, by stage."""
    bridge_ms, worker_ms, store_ms = stage_ms(published, in_sos, in_alerts, stored, q=q)
    return {
        "publish -> SOS record on anbu.sos (bridge)": bridge_ms,
        "publish -> SOS alert on anbu.alerts (worker)": worker_ms,
        "publish -> alert stored (alerts service)": store_ms,
    }


Press = Callable[[int], float]
"""Press the SOS button of household ``index``; returns the wall time of the publish."""


@contextmanager
def sos_stack(
    simulation: Simulation, extra_records: list[Any], say: Callable[[str], None]
) -> Iterator[tuple[PrivateStack, WebhookReceiver, Press]]:
    """A private stack with bridge, worker and alerts, warmed up by :data:`WARMUP_SOS` SOS.

    The warm-up presses the buttons of the simulation's last :data:`WARMUP_SOS` households.
    """
    households = simulation.households
    with (
        WebhookReceiver() as receiver,
        private_stack(
            {"alerts.webhook_url": receiver.url, "alerts.webhook_secret": WEBHOOK_SECRET}
        ) as stack,
    ):
        settings = stack.settings
        publish_registry(settings, simulation.registry_records() + extra_records)
        for name in ("bridge", "worker", "alerts"):
            stack.start_app(name)
        say("starting bridge, worker and alerts ...")
        wait_worker_ready(stack)
        client = connect(settings, "bench-sos-pub")

        def press(index: int) -> float:
            topic = households[index].device("button-sos").mqtt_topic
            payload = json.dumps({"type": "sos", "source": "button", "seq": index}).encode()
            now = time.time()
            client.publish(topic, payload, qos=1)
            return now

        try:
            for index in range(len(households) - WARMUP_SOS, len(households)):
                press(index)
            if not wait_for_webhooks(stack, receiver, WARMUP_SOS, 180):
                raise TimeoutError("no SOS webhook arrived within 180 s of start-up")
            yield stack, receiver, press
        finally:
            client.loop_stop()
            client.disconnect()


def wait_for_webhooks(
    stack: PrivateStack, receiver: WebhookReceiver, count: int, wait_s: float
) -> bool:
    """Wait up to ``wait_s`` for ``count`` webhooks (raise if an app died); say if they came."""

    def arrived() -> bool:
        stack.check_apps()
        return len(receiver.received) >= count

    try:
        wait_for(arrived, wait_s, step_s=0.2)
    except TimeoutError:
        return False
    return True
