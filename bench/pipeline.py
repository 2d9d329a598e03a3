"""The whole pipeline on this machine: MQTT -> bridge -> Kafka -> detector worker.

An isolated embedded stack is started on free ports (Mosquitto, Kafka and InfluxDB from the
same specs ``anbu up`` uses, and ``python -m anbu bridge/worker/alerts`` with ``ANBU_*``
environment), so a running stack or other benchmarks are not disturbed. In one run it
measures:

* the raw MQTT limit: a plain paho subscriber draining the same simulated messages on the
  same Mosquitto, before the bridge starts;
* the whole pipeline's sustained rate: simulated households' native MQTT messages published
  as fast as the broker takes them; device events per second through the bridge (records
  acknowledged in ``anbu.events``) and through the detector worker (its committed offsets),
  taken over the middle of the run so start-up and the last commit do not count;
* the raw Kafka limit: a plain aiokafka consumer reading the same ``anbu.events`` records.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from anbu.stack.services import (
    port_open,
)
from config import Settings
from simulator.demo import device_index
from simulator.payloads import Message
from simulator.plan import NO_INCIDENTS
from simulator.publish import messages_of
from simulator.resident import SimOptions
from simulator.world import Simulation, SimulationConfig
from testkit.polling import wait_for
from testkit.publishing import connect_publisher, publish_registry
from testkit.stack import PrivateStack, private_stack

log = logging.getLogger(__name__)


def bench_households(households: int, seed: int = 7) -> Simulation:
    """Simulated households whose traffic loads the pipeline (gateway heartbeats every 60 s)."""
    return Simulation(
        SimulationConfig(
            households=households,
            days=3,
            seed=seed,
            rates=NO_INCIDENTS,
            options=SimOptions(heartbeat_s=60, plug_report_s=300),
        )
    )


def native_messages(simulation: Simulation, count: int) -> list[Message]:
    """The first ``count`` native MQTT messages of the simulation (device clocks = event time)."""
    out: list[Message] = []
    for _event, messages in messages_of(simulation.events(), device_index(simulation), None):
        out.extend(messages)
        if len(out) >= count:
            break
    return out[:count]


def events_per_message(simulation: Simulation, messages: list[Message]) -> float:
    """Average device events the bridge's adapters read from one of these messages."""
    from ingest.adapters import ADAPTERS
    from ingest.readings import Owner

    by_topic = {d.mqtt_topic: d for h in simulation.households for d in h.devices}
    events = 0
    for topic, payload in messages:
        base = topic
        while base not in by_topic and "/" in base:
            base = base.rsplit("/", 1)[0]
        device = by_topic[base]
        owner = Owner(
            device.device_id, device.household_id, None, device.kind, device.source_format, base
        )
        suffix = topic[len(base) :].lstrip("/")
        try:
            events += len(ADAPTERS[device.source_format](suffix, payload, owner).items)
        except Exception:  # noqa: BLE001 - an ignored message carries no events
            continue
    return events / max(1, len(messages))


PUBLISH_INFLIGHT = 100
"""QoS 1 messages a publisher has on the wire at once: paho walks its in-flight messages on
every PUBACK, so 1000 cost the publisher about half its rate here, and 100 keep Mosquitto on
loopback busy."""

PUBLISH_WINDOW = 10_000
"""Messages handed to paho and not yet acknowledged by the broker, at most. paho numbers
messages with 16-bit ids and silently refuses a publish whose id is still outstanding
(``MQTT_ERR_QUEUE_SIZE``): queueing 200,000 at once offered only about 68,000."""


def device_publisher(settings: Settings, client_id: str) -> mqtt.Client:
    """A connected QoS 1 publisher as a device would be (MQTT 3.1.1), :data:`PUBLISH_INFLIGHT`."""
    return connect_publisher(
        settings, client_id, inflight=PUBLISH_INFLIGHT, protocol=MQTTProtocolVersion.MQTTv311
    )


def publish_all(client: mqtt.Client, messages: list[Message]) -> float:
    """Publish as fast as the broker acknowledges; return when the last one is acked."""
    _offer(client, messages, threading.Event(), [])
    return time.time()


def raw_mqtt_rate(settings: Settings, messages: list[Message]) -> dict[str, Any]:
    """A plain paho subscriber's rate draining the messages on the same broker (QoS 1)."""
    received = 0
    first = last = 0.0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: mqtt.Client, _u: Any, _m: mqtt.MQTTMessage) -> None:
        nonlocal received, first, last
        now = time.time()
        if received == 0:
            first = now
        received += 1
        last = now
        if received >= len(messages):
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-sub")
    sub.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(settings.mqtt.host, settings.mqtt.port)
    sub.subscribe([(f, 1) for f in settings.mqtt.topic_filters])
    sub.loop_start()
    subscribed.wait(10)
    pub = device_publisher(settings, "bench-raw-pub")
    began = time.time()
    publish_all(pub, messages)
    done.wait(120)
    pub.loop_stop()
    pub.disconnect()
    sub.loop_stop()
    sub.disconnect()
    seconds = max(last - began, 1e-9)
    return {
        "messages": received,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(received / seconds, 1),
    }


async def _raw_kafka(settings: Settings, topic: str) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        await consumer.topics()  # loads the cluster metadata
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        records = events = 0
        began = time.perf_counter()
        while records < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batch:
                if time.perf_counter() - began > 120:
                    break
                continue
            for messages in batch.values():
                records += len(messages)
                for message in messages[:: max(1, len(messages) // 20)]:
                    events += _events_in(message.value)
        seconds = time.perf_counter() - began
        return {
            "records": records,
            "seconds": round(seconds, 3),
            "records_per_s": round(records / max(seconds, 1e-9), 1),
            "sampled_events": events,
        }
    finally:
        await consumer.stop()


def _events_in(value: bytes | None) -> int:
    if not value:
        return 0
    try:
        data = json.loads(value)
    except ValueError:
        return 0
    return len(data.get("events", [])) if data.get("type") == "batch" else 1


def events_per_record(settings: Settings, sample: int = 2000) -> float:
    """The average number of device events per ``anbu.events`` record (bridge batching)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=list(settings.kafka.bootstrap_servers),
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    topic = settings.kafka.topics.events
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = events = 0
        for message in consumer:
            records += 1
            events += _events_in(message.value)
            if records >= sample:
                break
        return events / records if records else 0.0
    finally:
        consumer.close()


def end_offsets(settings: Settings, topic: str) -> int:
    """The number of records in ``topic`` (sum of end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=list(settings.kafka.bootstrap_servers))
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


class OffsetWatcher:
    """Samples ``anbu.events``' end offsets and a consumer group's committed offsets."""

    def __init__(self, settings: Settings, group: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.settings = settings
        self.topic = settings.kafka.topics.events
        self.group = group
        servers = list(settings.kafka.bootstrap_servers)
        self.admin = KafkaAdminClient(bootstrap_servers=servers)
        self.consumer = KafkaConsumer(bootstrap_servers=servers)
        self.samples: list[tuple[float, int, int]] = []  # (time, produced, committed)

    def sample(self) -> tuple[int, int]:
        """Record (produced, committed) records now."""
        from kafka import TopicPartition

        parts = [
            TopicPartition(self.topic, p)
            for p in self.consumer.partitions_for_topic(self.topic) or []
        ]
        produced = sum(self.consumer.end_offsets(parts).values())
        committed = 0
        try:
            offsets = self.admin.list_group_offsets(self.group)
            offsets = offsets.get(self.group, offsets)  # {group: {partition: offset}}
            committed = sum(
                meta.offset
                for tp, meta in offsets.items()
                if tp.topic == self.topic and meta.offset > 0
            )
        except Exception as exc:  # noqa: BLE001 - a failed sample is skipped, not fatal
            log.debug("committed offsets of %s: %s", self.group, exc)
        self.samples.append((time.time(), produced, committed))
        return produced, committed

    def close(self) -> None:
        """Close the Kafka clients."""
        self.consumer.close()
        self.admin.close()


def window_rate(points: list[tuple[float, int]], start: float, end: float) -> float | None:
    """Records/s between ``start`` and ``end`` (epoch s), from (time, count) samples."""
    inside = [(t, v) for t, v in points if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    (t0, v0), (t1, v1) = inside[0], inside[-1]
    return (v1 - v0) / (t1 - t0)


def wait_worker_ready(stack: PrivateStack, timeout_s: float = 120) -> float:
    """Wait until the worker has joined its group (its web port answers); return seconds."""
    began = time.time()

    def answering() -> bool:
        stack.check_apps()
        return port_open("127.0.0.1", stack.settings.detectors.web_port)

    wait_for(answering, timeout_s, step_s=0.2, what="the detector worker to start")
    return time.time() - began


def run(
    households: int = 500,
    messages: int = 200_000,
    duration_s: float = 60.0,
    warmup_s: float = 10.0,
    max_s: float = 180.0,
    progress: Any = None,
) -> dict[str, Any]:
    """Measure the raw limits and the whole pipeline's sustained rate; return the figures.

    The publisher offers simulated messages as fast as Mosquitto takes them; the rates are
    the slopes of the bridge's produced offsets and the worker's committed offsets between
    ``warmup_s`` and ``duration_s`` after publishing began (or until it all went through).

    Args:
        households: simulated households sending traffic (registered on ``anbu.registry``).
        messages: native MQTT messages offered (more than the window can take).
        duration_s: length of the measuring run, from the worker's first commit.
        warmup_s: earliest start of the window after publishing began.
        max_s: the longest the run may take.
        progress: called with a line of text as the run goes.
    """
    say = progress or (lambda _text: None)
    out: dict[str, Any] = {"households": households, "offered_messages": messages}
    say(f"simulating {households} households' traffic ...")
    simulation = bench_households(households)
    payloads = native_messages(simulation, messages)
    with private_stack() as stack:
        settings = stack.settings
        say("raw limit: plain paho subscriber on the same Mosquitto ...")
        out["raw_mqtt"] = raw_mqtt_rate(settings, payloads[: min(len(payloads), 50_000)])
        publish_registry(settings, simulation.registry_records())
        for name in ("bridge", "worker"):
            stack.start_app(name)
        say("starting bridge and worker ...")
        out["worker_start_s"] = round(wait_worker_ready(stack), 1)
        watcher = OffsetWatcher(settings, settings.detectors.app_id)
        time.sleep(3)  # the bridge reads the registry topic before it maps topics
        client = device_publisher(settings, "bench-pipeline-pub")
        say(f"offering {len(payloads):,} messages for {duration_s:.0f} s ...")
        stop = threading.Event()
        sent: list[int] = []
        publisher = threading.Thread(
            target=_offer, args=(client, payloads, stop, sent), daemon=True
        )
        began = time.time()
        publisher.start()
        produced = committed = 0
        first_commit: float | None = None
        # The window opens once the worker commits (it first loads the registry topic) and
        # runs ``duration_s`` from then; a worker that never commits ends it at ``max_s``.
        while time.time() - began < max_s:
            stack.check_apps()
            produced, committed = watcher.sample()
            now = time.time()
            if committed and first_commit is None:
                first_commit = now
            if first_commit is not None and now - first_commit >= duration_s:
                break
            if not publisher.is_alive() and produced and committed >= produced:
                break  # everything went through before the window ended
            time.sleep(0.25)
        ended = time.time()
        stop.set()
        publisher.join(timeout=30)
        client.loop_stop()
        client.disconnect()
        ratio = events_per_record(settings)
        samples = watcher.samples
        watcher.close()
        start = max(began + warmup_s, (first_commit or began) + 2.0)
        bridge_rps = window_rate([(t, p) for t, p, _ in samples], start, ended)
        worker_rps = window_rate([(t, c) for t, _, c in samples], start, ended)
        if first_commit is None:
            worker_rps = None
            out["pipeline_reason"] = f"the worker committed no offsets in {max_s:.0f} s"
        out.update(
            published_messages=sent[0] if sent else None,
            records=produced,
            committed=committed,
            backlog_records=max(0, produced - committed),
            events_per_record=round(ratio, 2),
            window_s=round(ended - start, 1),
            bridge_events_per_s=None if bridge_rps is None else round(bridge_rps * ratio),
            worker_events_per_s=None if worker_rps is None else round(worker_rps * ratio),
            # Through every stage: no faster than the slower of the two. A worker that drains
            # a backlog in the window shows more than it is given in steady state.
            pipeline_events_per_s=(
                None
                if worker_rps is None or bridge_rps is None
                else round(min(worker_rps, bridge_rps) * ratio)
            ),
        )
        say("raw limit: plain aiokafka consumer on the same anbu.events records ...")
        raw = asyncio.run(_raw_kafka(settings, settings.kafka.topics.events))
        raw["events_per_s"] = round(raw["records_per_s"] * ratio)
        out["raw_kafka"] = raw
    # The raw MQTT limit in device events/s: messages/s times the events the bridge's own
    # adapters read from each of these messages.
    per_message = events_per_message(simulation, payloads[:5000])
    out["events_per_message"] = round(per_message, 2)
    out["raw_mqtt_events_per_s"] = round(out["raw_mqtt"]["msgs_per_s"] * per_message)
    if out["pipeline_events_per_s"]:
        out["pipeline_ratio"] = round(
            out["pipeline_events_per_s"] / max(out["raw_mqtt_events_per_s"], 1), 3
        )
    if out["bridge_events_per_s"]:
        out["bridge_ratio"] = round(
            out["bridge_events_per_s"] / max(out["raw_mqtt_events_per_s"], 1), 3
        )
    return out


def _offer(
    client: mqtt.Client, messages: list[Message], stop: threading.Event, sent: list[int]
) -> None:
    """Publish every message (QoS 1) as fast as the broker takes them.

    At most :data:`PUBLISH_WINDOW` are outstanding at once. ``sent`` gets the number the
    broker acknowledged by the time ``stop`` was set (or all were).

    Raises:
        RuntimeError: paho refused a message.
    """
    acked = [0]

    def on_publish(*_args: Any) -> None:
        acked[0] += 1

    client.on_publish = on_publish
    offered = 0
    for topic, payload in messages:
        while offered - acked[0] >= PUBLISH_WINDOW and not stop.is_set():
            time.sleep(0.002)
        if stop.is_set():
            break
        info = client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"paho refused message {offered}: {mqtt.error_string(info.rc)}")
        offered += 1
    while not stop.is_set() and acked[0] < offered:
        stop.wait(0.05)
    sent.append(acked[0])
