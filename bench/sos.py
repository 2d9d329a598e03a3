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
import multiprocessing
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import cycle
from typing import Any

from anbu.stack.services import free_port
from bench.pipeline import (
    bench_households,
    device_publisher,
    native_messages,
    publish_all,
    wait_worker_ready,
)
from config import Settings
from simulator.publish import connect
from simulator.world import Simulation
from testkit.polling import wait_for
from testkit.publishing import publish_registry
from testkit.stack import PrivateStack, private_stack

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
    settings: Settings,
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


def _record_times(
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


def _stage_ms(
    published: dict[str, float], *stages: dict[str, float], q: float = 50
) -> list[float | None]:
    """The ``q`` percentile (default the median) of publish -> each stage's moment, in ms.

    Measured from the publish rather than from the previous stage: the stages need not run
    in sequence (the alerts service may store an SOS before the worker's alert record).
    """
    out: list[float | None] = []
    for stage in stages:
        spans = [(stage[hh] - t0) * 1000 for hh, t0 in published.items() if hh in stage]
        value = _percentile(spans, q)
        out.append(None if value is None else round(value, 1))
    return out


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


WARMUP_SOS = 5
"""SOS pressed before measuring: the first goes through every stage once (joins, sockets)."""


def _rounded(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else round(value, 1)


def _latencies(
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
        "p50_ms": _rounded(_percentile(both_ms, 50)),
        "p99_ms": _rounded(_percentile(both_ms, 99)),
        "max_ms": _rounded(max(both_ms) if both_ms else None),
        "slowest_complete_ms": _rounded(max(complete) if complete else None),
        "webhook_p50_ms": _rounded(_percentile(webhook_ms, 50)),
        "webhook_p99_ms": _rounded(_percentile(webhook_ms, 99)),
        "stored_p50_ms": _rounded(_percentile(stored_ms, 50)),
        "stored_p99_ms": _rounded(_percentile(stored_ms, 99)),
        "webhook_bodies": receiver.bodies,
        "sos_webhook_bodies": receiver.sos_bodies,
    }


def _stages(
    published: dict[str, float],
    in_sos: dict[str, float],
    in_alerts: dict[str, float],
    stored: dict[str, float],
    q: float = 50,
) -> dict[str, float | None]:
    bridge_ms, worker_ms, store_ms = _stage_ms(published, in_sos, in_alerts, stored, q=q)
    return {
        "publish -> SOS record on anbu.sos (bridge)": bridge_ms,
        "publish -> SOS alert on anbu.alerts (worker)": worker_ms,
        "publish -> alert stored (alerts service)": store_ms,
    }


Press = Callable[[int], float]
"""Press the SOS button of household ``index``; returns the wall time of the publish."""


@contextmanager
def _sos_stack(
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
            if not _wait_for_webhooks(stack, receiver, WARMUP_SOS, 180):
                raise TimeoutError("no SOS webhook arrived within 180 s of start-up")
            yield stack, receiver, press
        finally:
            client.loop_stop()
            client.disconnect()


def _wait_for_webhooks(
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
    simulation = bench_households(sos + WARMUP_SOS, seed=11)
    households = simulation.households
    say(f"simulating {len(households)} households ...")
    load = native_messages(simulation, 50_000)
    with _sos_stack(
        simulation, lag_records(lag_households, lag_inactivity_s), say
    ) as (stack, receiver, press):
        settings = stack.settings
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
        _wait_for_webhooks(stack, receiver, sos + WARMUP_SOS, wait_s)
        stop.set()
        loader.join(timeout=10)
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
    return {
        "sos": sos,
        "background_msgs_per_s": load_msgs_per_s,
        "background_messages": sent[0] if sent else 0,
        **_latencies(published, receiver, stored),
        "inactivity_lag": lag,
        "stage_p50_ms": _stages(published, in_sos, in_alerts, stored),
    }


def flood_messages(simulation: Simulation, count: int, first: int) -> list[tuple[str, bytes]]:
    """``count`` junk messages: unregistered topics and bad payloads on registered ones.

    Five kinds in turn, most on distinct topics (as a misconfigured fleet or an attacker
    would send): valid Zigbee2MQTT state on unregistered topics, an SOS-looking anbu message
    from an unregistered gateway, truncated JSON on registered Zigbee2MQTT sensors and on
    registered gateways (an SOS-looking one there), and bytes that are not UTF-8 on
    unregistered Tasmota topics. The registered ones belong to households ``first`` on,
    which are never the ones whose SOS is measured.
    """
    households = simulation.households[first:]
    sensors = [
        device.mqtt_topic
        for household in households
        for device in household.devices
        if device.mqtt_topic.startswith("zigbee2mqtt/")
    ]
    gateways = [f"anbu/{household.gateway_id}/heartbeat" for household in households]
    if not sensors or not gateways:
        raise ValueError("the flood needs households with Zigbee2MQTT sensors and gateways")
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            out.append((f"zigbee2mqtt/junk-{i}", b'{"occupancy":true,"battery":97}'))
        elif kind == 1:
            out.append((f"anbu/gw-junk-{i}/button", b'{"type":"sos","seq":%d}' % i))
        elif kind == 2:
            out.append((sensors[i % len(sensors)], b'{"occupancy": tru'))
        elif kind == 3:
            out.append((gateways[i % len(gateways)], b'{"type": "sos", "seq": %d' % i))
        else:
            out.append((f"tele/junk{i}/SENSOR", b"\xff\xfe" + i.to_bytes(4, "big")))
    return out


def _flood(settings: Settings, messages: list[tuple[str, bytes]], started: Any, done: Any) -> None:
    """Publish ``messages`` as fast as the broker takes them (in a process of its own)."""
    publisher = device_publisher(settings, "bench-flood")
    try:
        started.set()
        publish_all(publisher, messages)
    finally:
        done.set()
        publisher.loop_stop()
        publisher.disconnect()


def _acked(settings: Settings) -> float:
    """MQTT messages the bridge acknowledged (after Kafka confirmed them), from /metrics."""
    url = f"http://127.0.0.1:{settings.ingest.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("anbu_ingest_acked_total "):
            return float(line.split()[1])
    return 0.0


def _dead_letter_topics(settings: Settings) -> list[str]:
    """The MQTT topic of every record on the dead-letter topic."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.kafka.topics.deadletter
    consumer = KafkaConsumer(
        bootstrap_servers=list(settings.kafka.bootstrap_servers),
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    topics: list[str] = []
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for message in consumer:
            topics.append(str(json.loads(message.value).get("topic")))
    finally:
        consumer.close()
    return topics


def run_flood(
    junk: int = 50_000,
    sos: int = 100,
    interval_s: float = 0.05,
    wait_s: float = 60.0,
    drain_s: float = 180.0,
    progress: Any = None,
) -> dict[str, Any]:
    """SOS latency while one client floods the broker with ``junk`` junk messages.

    One client publishes the junk (:func:`flood_messages`) as fast as the broker takes it
    (QoS 1); meanwhile another presses a different household's SOS button every
    ``interval_s`` (at most ``sos``), from the first acknowledged junk message until the last.
    Then it waits up to ``drain_s`` for the bridge to acknowledge every junk message (after
    Kafka confirmed its dead letter), counts the dead letters, and checks that no SOS is one.

    Args:
        junk: junk messages.
        sos: most SOS pressed during the flood (one household each).
        interval_s: time between two SOS presses.
        wait_s: how long after the flood to wait for the SOS webhooks.
        drain_s: how long to wait for the bridge to get through the junk.
        progress: called with a line of text as the run goes.
    """
    say = progress or (lambda _text: None)
    flood_households = 20
    simulation = bench_households(sos + flood_households + WARMUP_SOS, seed=13)
    households = simulation.households
    messages = flood_messages(simulation, junk, sos)
    with _sos_stack(simulation, [], say) as (stack, receiver, press):
        settings = stack.settings
        log_path = stack.directory / "log" / "bridge.log"
        log_lines_before = len(log_path.read_bytes().splitlines())
        dead_before = len(_dead_letter_topics(settings))
        # The flooding client is a process of its own, as a gateway would be: in this one
        # it would hold the GIL and delay the SOS presses and the webhook receiver's clock.
        spawn = multiprocessing.get_context("spawn")
        started, done = spawn.Event(), spawn.Event()
        flooder = spawn.Process(
            target=_flood, args=(settings, messages, started, done), daemon=True
        )
        say(f"flooding with {junk:,} junk messages, pressing SOS every {interval_s} s ...")
        flooder.start()
        if not started.wait(60):
            raise TimeoutError("the flooding client did not start")
        began = time.time()
        done.wait(0.2)  # the flood is under way: the SOS land in its middle
        published: dict[str, float] = {}
        index = 0
        while not done.is_set() and index < sos:
            published[households[index].household_id] = press(index)
            index += 1
            done.wait(interval_s)
        done.wait(300)
        flood_s = time.time() - began
        flooder.join(timeout=10)
        _wait_for_webhooks(stack, receiver, len(published) + WARMUP_SOS, wait_s)
        time.sleep(1)
        stored = _stored(str(settings.data_dir / "alerts.sqlite3"), set(published))
        in_alerts = _record_times(settings, settings.kafka.topics.alerts, "sos")
        say("waiting for the bridge to acknowledge every junk message ...")
        deadline = time.time() + drain_s
        expected = junk + len(published) + WARMUP_SOS
        while _acked(settings) < expected and time.time() < deadline:
            stack.check_apps()
            time.sleep(0.5)
        drained_s = time.time() - began
        letters = _dead_letter_topics(settings)
        dead = len(letters) - dead_before
        sos_topics = {households[i].device("button-sos").mqtt_topic for i in range(index)}
        sos_dead = sum(1 for topic in letters if topic in sos_topics)
        # Read once the main lane is through: its late copies of the SOS must be paired.
        sos_records: dict[str, int] = {}
        in_sos = _record_times(settings, settings.kafka.topics.sos, None, sos_records)
        log_lines = len(log_path.read_bytes().splitlines()) - log_lines_before
    return {
        "junk": junk,
        "flood_s": round(flood_s, 2),
        "flood_msgs_per_s": round(junk / max(flood_s, 1e-9), 1),
        "sos": len(published),
        **_latencies(published, receiver, stored),
        "stage_p50_ms": _stages(published, in_sos, in_alerts, stored),
        "stage_p99_ms": _stages(published, in_sos, in_alerts, stored, q=99),
        "junk_dead_lettered": dead,
        "acked_after_s": round(drained_s, 1),
        "sos_dead_lettered": sos_dead,
        "sos_records": sum(sos_records.get(hh, 0) for hh in published),
        "bridge_log_lines": log_lines,
    }
