"""Benchmark of the bridge against a plain paho subscriber on the same broker, in one run.

Both drain the same backlog: ``messages`` Zigbee2MQTT motion messages (three events each) are
queued by Mosquitto for two persistent sessions (one plain paho subscriber, one bridge), then
each connects and is timed until it has taken them all. The plain subscriber only receives and
acknowledges; the bridge normalises each message, gets Kafka's ``acks=all`` confirmation for
its records, and only then acknowledges. The ratio of their message rates is the figure of merit
(goal: the bridge at 50 % or more of the plain subscriber).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from anbu.kafka_topics import ensure_topics
from anbu.registry_records import DeviceRecord, HouseholdRecord
from config import Settings
from ingest.bridge import Bridge
from testkit.publishing import mqtt_publisher, publish_registry

EVENTS_PER_MESSAGE = 3  # occupancy, battery, linkquality


def bench_settings(settings: Settings, suffix: str) -> Settings:
    """The same settings with topics and the shared group of their own, so nothing real mixes in."""
    topics = settings.kafka.topics.model_copy(
        update={
            name: f"{getattr(settings.kafka.topics, name)}.bench.{suffix}"
            for name in ("events", "sos", "deadletter", "registry", "alerts")
        }
    )
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"topics": topics}),
            "mqtt": settings.mqtt.model_copy(update={"shared_group": f"bench{suffix}"}),
        }
    )


def _raw_client(settings: Settings, client_id: str, on_message: Any) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    client.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    client.on_message = on_message
    return client


def _connect(client: mqtt.Client, settings: Settings) -> None:
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 600
    properties.ReceiveMaximum = settings.ingest.receive_maximum
    client.connect(
        settings.mqtt.host, settings.mqtt.port, 30, clean_start=False, properties=properties
    )


def _create_raw_session(settings: Settings, raw_id: str, raw_filter: str) -> None:
    """Create the plain subscriber's persistent session and subscription, then go offline."""
    raw = _raw_client(settings, raw_id, lambda *_a: None)
    subscribed = threading.Event()
    raw.on_subscribe = lambda *_a: subscribed.set()
    _connect(raw, settings)
    raw.loop_start()
    raw.subscribe(raw_filter, qos=1)
    if not subscribed.wait(15):
        raise TimeoutError("plain subscriber could not subscribe")
    raw.disconnect()
    raw.loop_stop()


def _create_bridge_session(settings: Settings, bridge_id: str) -> None:
    """Create a bridge's persistent session and subscriptions, then go offline."""
    bridge = Bridge(settings, client_id=bridge_id, serve_metrics=False, write_influx=False)
    bridge.start(registry_timeout_s=60)
    if not bridge.subscribed.wait(15):
        raise TimeoutError("bridge could not subscribe")
    bridge.stop()


def _queue_backlog(
    settings: Settings, root: str, messages: int, devices: int, round_no: int
) -> None:
    with mqtt_publisher(settings) as publisher:
        infos = [
            publisher.publish(
                f"{root}/motion{i % devices}",
                f'{{"battery":97,"illuminance_lux":{i},"linkquality":120,'
                f'"occupancy":{"true" if i % 2 else "false"},"round":{round_no}}}'.encode(),
                qos=1,
            )
            for i in range(messages)
        ]
        for info in infos:
            info.wait_for_publish(120)
    time.sleep(0.5)


def _drain_raw(settings: Settings, raw_id: str, messages: int) -> tuple[float, float]:
    count = 0
    done = threading.Event()

    def on_message(_c: Any, _u: Any, _m: mqtt.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count >= messages:
            done.set()

    raw = _raw_client(settings, raw_id, on_message)
    started, cpu = time.perf_counter(), time.process_time()
    _connect(raw, settings)
    raw.loop_start()
    finished = done.wait(300)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    raw.disconnect()
    raw.loop_stop()
    if not finished:
        raise TimeoutError(f"plain subscriber got {count} of {messages}")
    return seconds, cpu


def _drain_bridge(settings: Settings, bridge_id: str, messages: int) -> tuple[float, float, int]:
    bridge = Bridge(settings, client_id=bridge_id, serve_metrics=False, write_influx=False)
    bridge.follower.start()
    bridge.follower.wait_loaded(60)
    started, cpu = time.perf_counter(), time.process_time()
    bridge.start(registry_timeout_s=60)  # the registry is loaded: this connects at once
    deadline = time.monotonic() + 600
    while bridge.metrics.acked < messages and time.monotonic() < deadline:
        time.sleep(0.01)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    acked = bridge.metrics.acked
    events = sum(c for (_f, o), c in bridge.metrics.outcomes.items() if o == "event")
    bridge.stop()
    if acked < messages:
        raise TimeoutError(f"bridge acknowledged {acked} of {messages}")
    return seconds, cpu, events


def _bridge_process(
    settings: Settings,
    client_id: str,
    ready: Any,
    go: Any,
    stop: Any,
    acked: Any,
) -> None:  # pragma: no cover - runs in a child process
    """One bridge in its own process: load the registry, wait for ``go``, forward, count."""
    bridge = Bridge(settings, client_id=client_id, serve_metrics=False, write_influx=False)
    bridge.follower.start()
    bridge.follower.wait_loaded(60)
    ready.set()
    go.wait()
    bridge.start(registry_timeout_s=60)
    while not stop.wait(0.01):
        acked.value = bridge.metrics.acked
    acked.value = bridge.metrics.acked
    bridge.stop()


def _drain_bridges(settings: Settings, bridge_ids: list[str], messages: int) -> float:
    """Time ``len(bridge_ids)`` bridge processes (one shared subscription) draining the backlog."""
    context = multiprocessing.get_context("spawn")
    go, stop = context.Event(), context.Event()
    readies = [context.Event() for _ in bridge_ids]
    counters = [context.Value("q", 0) for _ in bridge_ids]
    processes = [
        context.Process(
            target=_bridge_process,
            args=(settings, client_id, ready, go, stop, counter),
            daemon=True,
        )
        for client_id, ready, counter in zip(bridge_ids, readies, counters, strict=True)
    ]
    for process in processes:
        process.start()
    try:
        for ready in readies:
            if not ready.wait(120):
                raise TimeoutError("a bridge process did not load the registry")
        started = time.perf_counter()
        go.set()
        deadline = time.monotonic() + 600
        while sum(c.value for c in counters) < messages and time.monotonic() < deadline:
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        done = sum(c.value for c in counters)
    finally:
        stop.set()
        for process in processes:
            process.join(30)
    if done < messages:
        raise TimeoutError(f"bridges acknowledged {done} of {messages}")
    return seconds


def run(
    settings: Settings,
    messages: int = 20_000,
    devices: int = 200,
    rounds: int = 2,
    processes: int = 2,
) -> dict[str, Any]:
    """Measure both consumers draining ``messages`` queued messages; return the figures.

    The two take turns for ``rounds`` rounds and the best round of each counts, so a burst
    of load from elsewhere on the machine does not decide the ratio.

    Args:
        settings: settings of a running Mosquitto and Kafka (topics get a unique suffix).
        messages: how many MQTT messages each consumer drains per round.
        devices: how many registered motion sensors (in ``devices // 4`` households) send them.
        rounds: how many turns each consumer gets.
        processes: also time this many bridge processes sharing the subscription (the way
            the bridge scales out); 1 to skip.

    Returns:
        ``raw_msgs_per_s``, ``bridge_msgs_per_s``, ``bridge_events_per_s``, ``ratio``, every
        round's seconds, and the run's parameters.
    """
    suffix = uuid.uuid4().hex[:8]
    settings = bench_settings(settings, suffix)
    ensure_topics(settings)
    root = f"zigbee2mqtt/bench{suffix}"
    households = max(1, devices // 4)
    records: list[Any] = [
        HouseholdRecord(household_id=f"hh-b{h}", care_center_id="cc", dong="d")
        for h in range(households)
    ]
    records += [
        DeviceRecord(
            device_id=f"dev-b{d}",
            household_id=f"hh-b{d % households}",
            kind="motion",
            source_format="zigbee2mqtt",  # type: ignore[arg-type]
            mqtt_topic=f"{root}/motion{d}",
        )
        for d in range(devices)
    ]
    publish_registry(settings, records)
    raw_id, bridge_id = f"bench-raw-{suffix}", f"bench-bridge-{suffix}"
    _create_raw_session(settings, raw_id, f"$share/raw{suffix}/{root}/#")
    _create_bridge_session(settings, bridge_id)
    # The scaled-out bridges form a shared group of their own, so they get their own backlog.
    multi_settings = settings.model_copy(
        update={"mqtt": settings.mqtt.model_copy(update={"shared_group": f"multi{suffix}"})}
    )
    multi_ids = [f"bench-multi-{suffix}-{i}" for i in range(processes)] if processes > 1 else []
    for multi_id in multi_ids:
        _create_bridge_session(multi_settings, multi_id)

    raw_rounds: list[float] = []
    bridge_rounds: list[float] = []
    raw_cpu: list[float] = []
    bridge_cpu: list[float] = []
    multi_rounds: list[float] = []
    events = 0
    for round_no in range(rounds):
        _queue_backlog(settings, root, messages, devices, round_no)
        seconds, cpu = _drain_raw(settings, raw_id, messages)
        raw_rounds.append(seconds)
        raw_cpu.append(cpu)
        seconds, cpu, events = _drain_bridge(settings, bridge_id, messages)
        bridge_rounds.append(seconds)
        bridge_cpu.append(cpu)
        if multi_ids:
            multi_rounds.append(_drain_bridges(multi_settings, multi_ids, messages))

    raw_rate = messages / min(raw_rounds)
    bridge_rate = messages / min(bridge_rounds)
    return {
        "messages": messages,
        "devices": devices,
        "households": households,
        "rounds": rounds,
        "events_per_message": events / messages,
        "raw_seconds": [round(s, 3) for s in raw_rounds],
        "bridge_seconds": [round(s, 3) for s in bridge_rounds],
        "raw_msgs_per_s": round(raw_rate, 1),
        "bridge_msgs_per_s": round(bridge_rate, 1),
        "bridge_events_per_s": round(bridge_rate * events / messages, 1),
        "ratio": round(bridge_rate / raw_rate, 3),
        "goal_ratio": 0.5,
        # CPU seconds of this process per message (best round): less sensitive than wall
        # time to other load on the machine, though Mosquitto's and Kafka's CPU is not in it.
        "raw_cpu_us_per_msg": round(min(raw_cpu) / messages * 1e6, 1),
        "bridge_cpu_us_per_msg": round(min(bridge_cpu) / messages * 1e6, 1),
        "cpu_ratio": round(min(raw_cpu) / min(bridge_cpu), 3),
        "processes": processes,
        "multi_seconds": [round(s, 3) for s in multi_rounds],
        "multi_msgs_per_s": round(messages / min(multi_rounds), 1) if multi_rounds else None,
        "multi_ratio": round(messages / min(multi_rounds) / raw_rate, 3) if multi_rounds else None,
    }
