"""SOS latency: MQTT publish of an SOS -> alert stored and webhook received, under load.

An isolated stack (see :mod:`bench.pipeline`) runs the bridge, the detector worker and the
alerts service; a real HTTP server on loopback receives the webhooks. Each SOS comes from a
different household (one open alert per household and kind, so every SOS must notify),
pressed on its registered anbu button while a background publisher keeps simulated
telemetry flowing. The latency of one SOS is the later of two moments (the alert row stored
by the alerts service, the webhook received) minus the moment it was published.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import cycle
from typing import Any

from anbu.stack.services import free_port
from bench.pipeline import (
    bench_households,
    native_messages,
    private_stack,
    publish_registry,
    wait_worker_ready,
)
from simulator.publish import connect

WEBHOOK_SECRET = "bench-webhook-secret"


class WebhookReceiver:
    """A real HTTP server that records when each alert's webhook arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: dict[str, float] = {}
        self.bodies = 0
        self.sos_bodies = 0
        received = self.received
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                now = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                owner.bodies += 1
                try:
                    data = json.loads(body)
                    if data.get("kind") == "sos":
                        owner.sos_bodies += 1
                        received.setdefault(str(data.get("household_id")), now)
                except ValueError:
                    pass
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        return f"http://127.0.0.1:{self.port}/anbu-webhook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def _background(
    settings: Any,
    messages: list[tuple[str, bytes]],
    rate: float,
    stop: threading.Event,
    sent: list[int],
) -> None:
    """Publish telemetry at ``rate`` messages/s until ``stop`` is set."""
    client = connect(settings, "bench-sos-load")
    began = time.time()
    count = 0
    try:
        for topic, payload in cycle(messages):
            if stop.is_set():
                break
            client.publish(topic, payload, qos=1)
            count += 1
            ahead = began + count / rate - time.time()
            if ahead > 0.001:
                stop.wait(ahead)
    finally:
        sent.append(count)
        client.loop_stop()
        client.disconnect()


def _stored(db_path: str, households: set[str]) -> dict[str, float]:
    """When the alerts service stored each household's SOS alert (wall clock, epoch s)."""
    try:
        with sqlite3.connect(db_path, timeout=30) as conn:
            rows = conn.execute(
                "SELECT household_id, opened_at FROM alerts WHERE kind = 'sos'"
            ).fetchall()
    except sqlite3.Error:
        return {}
    return {hh: opened / 1e6 for hh, opened in rows if hh in households}


def _record_times(settings: Any, topic: str, kind: str | None) -> dict[str, float]:
    """When each household's first record reached ``topic`` (Kafka CreateTime, epoch s)."""
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
            times.setdefault(str(data.get("household_id")), message.timestamp / 1000.0)
    finally:
        consumer.close()
    return times


def _stage_ms(published: dict[str, float], *stages: dict[str, float]) -> list[float | None]:
    """Median time from publishing to each stage's moment, in ms.

    Measured from the publish rather than from the previous stage: the stages need not run
    in sequence (the alerts service may store an SOS before the worker's alert record).
    """
    medians: list[float | None] = []
    for stage in stages:
        spans = [(stage[hh] - t0) * 1000 for hh, t0 in published.items() if hh in stage]
        value = _percentile(spans, 50)
        medians.append(None if value is None else round(value, 1))
    return medians


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


def inactivity_lag(settings: Any, count: int, inactivity_s: float) -> dict[str, Any]:
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
    raised = _record_times(settings, settings.kafka.topics.alerts, "inactivity")
    while time.time() < deadline and not set(last) <= set(raised):
        time.sleep(1)
        raised = _record_times(settings, settings.kafka.topics.alerts, "inactivity")
    stop.set()
    beat.join(timeout=10)
    client.loop_stop()
    client.disconnect()
    lags = [
        (raised[hh] - (t + inactivity_s)) * 1000 if hh in raised else math.inf
        for hh, t in last.items()
    ]

    def pick(q: float) -> float | None:
        value = _percentile(lags, q)
        return None if value is None or math.isinf(value) else round(value, 1)

    return {
        "households": count,
        "inactivity_s": inactivity_s,
        "alerts": sum(1 for v in lags if not math.isinf(v)),
        "p50_ms": pick(50),
        "p99_ms": pick(99),
        "max_ms": pick(100),
    }


def run(
    sos: int = 1000,
    interval_s: float = 0.03,
    load_msgs_per_s: float = 200.0,
    wait_s: float = 120.0,
    lag_households: int = 200,
    lag_inactivity_s: float = 60.0,
    progress: Any = None,
) -> dict[str, Any]:
    """Measure SOS latency p50/p99 over ``sos`` SOS events under background telemetry.

    Args:
        sos: SOS events (one per household).
        interval_s: time between two SOS publishes.
        load_msgs_per_s: background telemetry, native MQTT messages per second.
        wait_s: how long after the last SOS to wait for the stragglers.
        lag_households: households for the inactivity-lag measurement (0: skip it).
        lag_inactivity_s: their inactivity threshold.
        progress: called with a line of text as the run goes.
    """
    say = progress or (lambda _text: None)
    warmup = 5
    simulation = bench_households(sos + warmup, seed=11)
    households = simulation.households
    say(f"simulating {len(households)} households ...")
    load = native_messages(simulation, 50_000)
    with (
        WebhookReceiver() as receiver,
        private_stack(
            {"alerts.webhook_url": receiver.url, "alerts.webhook_secret": WEBHOOK_SECRET}
        ) as stack,
    ):
        settings = stack.settings
        publish_registry(
            settings,
            simulation.registry_records() + lag_records(lag_households, lag_inactivity_s),
        )
        for name in ("bridge", "worker", "alerts"):
            stack.start_app(name)
        say("starting bridge, worker and alerts ...")
        wait_worker_ready(stack)
        client = connect(settings, "bench-sos-pub")

        def press(index: int) -> float:
            household = households[index]
            topic = household.device("button-sos").mqtt_topic
            payload = json.dumps({"type": "sos", "source": "button", "seq": index}).encode()
            now = time.time()
            client.publish(topic, payload, qos=1)
            return now

        # Warm up: the first SOS goes through every stage once (joins, connections).
        for index in range(warmup):
            press(sos + index)
        deadline = time.time() + 180
        while time.time() < deadline and len(receiver.received) < warmup:
            stack.check_apps()
            time.sleep(0.2)
        if len(receiver.received) < warmup:
            raise TimeoutError("no SOS webhook arrived within 180 s of start-up")
        stop = threading.Event()
        sent: list[int] = []
        loader = threading.Thread(
            target=_background, args=(settings, load, load_msgs_per_s, stop, sent), daemon=True
        )
        loader.start()
        time.sleep(2)
        say(f"publishing {sos} SOS under {load_msgs_per_s:.0f} telemetry messages/s ...")
        published: dict[str, float] = {}
        for index in range(sos):
            published[households[index].household_id] = press(index)
            time.sleep(interval_s)
        deadline = time.time() + wait_s
        while time.time() < deadline and len(receiver.received) < sos + warmup:
            stack.check_apps()
            time.sleep(0.2)
        stop.set()
        loader.join(timeout=10)
        client.loop_stop()
        client.disconnect()
        time.sleep(1)
        stored = _stored(str(settings.data_dir / "alerts.sqlite3"), set(published))
        # Where the time goes: Kafka's CreateTime of the SOS record (bridge) and of the
        # worker's alert record, and the moment the alerts service stored the alert.
        in_sos = _record_times(settings, settings.kafka.topics.sos, None)
        in_alerts = _record_times(settings, settings.kafka.topics.alerts, "sos")
        lag = None
        if lag_households:
            say(f"inactivity alert lag: {lag_households} households, {lag_inactivity_s:.0f} s ...")
            lag = inactivity_lag(settings, lag_households, lag_inactivity_s)
    bridge_ms, worker_ms, store_ms = _stage_ms(published, in_sos, in_alerts, stored)
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

    def rounded(value: float | None) -> float | None:
        return None if value is None or math.isinf(value) else round(value, 1)

    complete = [v for v in both_ms if not math.isinf(v)]

    return {
        "sos": sos,
        "webhooks_received": len(webhook_ms),
        "alerts_stored": len(stored_ms),
        "complete": len(complete),
        "background_msgs_per_s": load_msgs_per_s,
        "background_messages": sent[0] if sent else 0,
        "p50_ms": rounded(_percentile(both_ms, 50)),
        "p99_ms": rounded(_percentile(both_ms, 99)),
        "max_ms": rounded(max(both_ms) if both_ms else None),
        "slowest_complete_ms": rounded(max(complete) if complete else None),
        "webhook_p50_ms": rounded(_percentile(webhook_ms, 50)),
        "webhook_p99_ms": rounded(_percentile(webhook_ms, 99)),
        "stored_p50_ms": rounded(_percentile(stored_ms, 50)),
        "stored_p99_ms": rounded(_percentile(stored_ms, 99)),
        "webhook_bodies": receiver.bodies,
        "sos_webhook_bodies": receiver.sos_bodies,
        "inactivity_lag": lag,
        "stage_p50_ms": {
            "publish -> SOS record on anbu.sos (bridge)": bridge_ms,
            "publish -> SOS alert on anbu.alerts (worker)": worker_ms,
            "publish -> alert stored (alerts service)": store_ms,
        },
    }
