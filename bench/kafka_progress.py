"""Reading the pipeline's progress on Kafka: events per record, offsets, rates.

A consumer group's committed progress over time (:class:`OffsetWatcher`), rates over a
window of it, and the raw Kafka limit: a plain aiokafka consumer reading the same records.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from config import Settings

log = logging.getLogger(__name__)

async def raw_kafka_rate(settings: Settings, topic: str) -> dict[str, Any]:
    """The raw Kafka limit: a plain aiokafka consumer's rate reading all of ``topic``."""
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
