"""Reading a topic from the beginning, as a test or benchmark checks what reached Kafka."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from config import Settings
from testkit.polling import wait_for

Records = list[tuple[bytes | None, bytes]]
"""Records read, as (key, value) in the order read."""


class KafkaTail:
    """Reads a topic from the beginning with manually assigned partitions.

    Args:
        settings: anbu settings.
        topic: the topic to read.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        partitions = wait_for(
            lambda: self.consumer.partitions_for_topic(topic), 30, step_s=0.2,
            what=f"topic {topic}",
        )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek_to_beginning(tp)
        self.records: Records = []

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
        self, done: Callable[[Records], bool], timeout_s: float = 30.0
    ) -> Records:
        """Poll until ``done(records)`` or the timeout; return the records read."""
        deadline = time.monotonic() + timeout_s
        while not done(self.records) and time.monotonic() < deadline:
            self.poll()
        return self.records

    def close(self) -> None:
        """Close the consumer."""
        self.consumer.close()


def produce(settings: Settings, topic: str, key: bytes | None, value: bytes | None) -> None:
    """Send one record to ``topic`` and wait for the broker's ack (``acks=all``)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()
