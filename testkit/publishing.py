"""Publishing what the product's own writers would: registry records, event batches, MQTT.

Real clients against real services, for tests and benchmarks (the registry, the bridge and
the gateways do this in production).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from kafka import KafkaProducer
from paho.mqtt.enums import MQTTProtocolVersion

from anbu.events import DeviceEvent, EventBatch
from anbu.registry_records import RegistryRecord, record_key
from config import Settings


def publish_registry(settings: Settings, records: Iterable[RegistryRecord]) -> int:
    """Put registry records on ``anbu.registry`` as the registry would; return how many.

    Keyed ``"<type>:<id>"``; returns once Kafka has acknowledged every one (``acks=all``).
    """
    producer = KafkaProducer(
        bootstrap_servers=list(settings.kafka.bootstrap_servers), acks="all", linger_ms=20
    )
    count = 0
    try:
        for record in records:
            producer.send(
                settings.kafka.topics.registry, key=record_key(record), value=record.to_json()
            )
            count += 1
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return count


def publish_events(
    settings: Settings, events: Iterable[DeviceEvent], *, batch_size: int = 50
) -> int:
    """Put device events on ``anbu.events`` in batches per household, as the bridge does.

    Returns:
        How many events were published (all acknowledged by Kafka).
    """
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    topic = settings.kafka.topics.events
    pending: dict[str, list[DeviceEvent]] = {}
    sent = 0

    def send(household: str) -> None:
        batch = EventBatch(household_id=household, events=pending.pop(household))
        producer.send(topic, key=household.encode(), value=batch.to_json())

    try:
        for event in events:
            pending.setdefault(event.household_id, []).append(event)
            sent += 1
            if len(pending[event.household_id]) >= batch_size:
                send(event.household_id)
        for household in list(pending):
            send(household)
        producer.flush()
    finally:
        producer.close()
    return sent


def connect_publisher(
    settings: Settings,
    client_id: str = "",
    *,
    inflight: int = 1000,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    timeout_s: float = 10.0,
) -> mqtt.Client:
    """A paho client with the service account, connected and its network loop running.

    Args:
        settings: whose broker and service account.
        client_id: the MQTT client id ("": one chosen by the broker).
        inflight: QoS 1 messages on the wire at once.
        protocol: the MQTT version (5, or 3.1.1 as most devices speak).
        timeout_s: how long to wait for the broker's CONNACK.

    Raises:
        TimeoutError: the broker did not answer the connect in ``timeout_s``.
    """
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
    )
    client.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect(settings.mqtt.host, settings.mqtt.port, keepalive=settings.mqtt.keepalive_s)
    client.loop_start()
    if not connected.wait(timeout_s):
        client.loop_stop()
        raise TimeoutError(f"Mosquitto on port {settings.mqtt.port} did not accept {client_id!r}")
    return client


@contextmanager
def mqtt_publisher(
    settings: Settings, client_id: str = "", *, inflight: int = 1000
) -> Iterator[mqtt.Client]:
    """:func:`connect_publisher` until the block ends, then disconnected."""
    client = connect_publisher(settings, client_id, inflight=inflight)
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()
