"""Test and benchmark helpers: publish registry records, publish MQTT, read Kafka topics.

Real clients against real services (no mocks); other packages' tests may use them too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from anbu.registry_records import RegistryRecord, record_key


def publish_registry(settings: Any, records: Iterable[RegistryRecord]) -> int:
    """Publish registry records (keyed ``"<type>:<id>"``) and wait for Kafka; return count."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    count = 0
    try:
        for record in records:
            producer.send(
                settings.kafka.topics.registry, key=record_key(record), value=record.to_json()
            )
            count += 1
        producer.flush(timeout=30)
    finally:
        producer.close()
    return count


@contextmanager
def mqtt_publisher(settings: Any, client_id: str = "") -> Iterator[mqtt.Client]:
    """A connected paho client with the service account, for publishing test messages."""
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    client.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(settings.mqtt.host, settings.mqtt.port, keepalive=30)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


class KafkaTail:
    """Reads a topic from the beginning with manually assigned partitions.

    Args:
        settings: anbu settings.
        topic: the topic to read.
    """

    def __init__(self, settings: Any, topic: str) -> None:
        self.topic = topic
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        deadline = time.monotonic() + 30
        partitions = None
        while not partitions and time.monotonic() < deadline:
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        if not partitions:
            raise TimeoutError(f"topic {topic} not found")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek_to_beginning(tp)
        self.records: list[tuple[bytes | None, bytes]] = []

    def poll(self, timeout_ms: int = 200) -> int:
        """Read what is there; return how many records were new."""
        batch = self.consumer.poll(timeout_ms=timeout_ms, max_records=10_000)
        new = 0
        for records in batch.values():
            for record in records:
                self.records.append((record.key, record.value))
                new += 1
        return new

    def wait_for(
        self, done: Callable[[list[tuple[bytes | None, bytes]]], bool], timeout_s: float = 30.0
    ) -> list[tuple[bytes | None, bytes]]:
        """Poll until ``done(records)`` or the timeout; return the records read."""
        deadline = time.monotonic() + timeout_s
        while not done(self.records) and time.monotonic() < deadline:
            self.poll()
        return self.records

    def close(self) -> None:
        """Close the consumer."""
        self.consumer.close()
