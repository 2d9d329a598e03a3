"""Simulated households' device messages, and publishing them as devices would.

The load the pipeline and SOS benchmarks offer: native MQTT messages of simulated
households (no incidents), published at QoS 1 as fast as the broker acknowledges; and the
raw MQTT limit those messages are measured against (a plain paho subscriber).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from config import Settings
from simulator.demo import device_index
from simulator.payloads import Message
from simulator.plan import NO_INCIDENTS
from simulator.publish import messages_of
from simulator.resident import SimOptions
from simulator.world import Simulation, SimulationConfig
from testkit.publishing import connect_publisher


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
    offer(client, messages, threading.Event(), [])
    return time.time()


def offer(
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
