"""What a Kafka broker must keep across a crash or a stop: records, a compacted topic and its
config, a consumer group's offset. Written once (:func:`produce_durable`,
:func:`commit_durable`), checked after each restart (:func:`check_everything_there`).
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.structs import OffsetAndMetadata

from config import Settings
from testkit.kafka_tail import KafkaTail

EVENTS = 3000
GROUP = "durability-group"
COMMITTED = 500  # on partition 0 only: a position the group had reached


def produce_durable(settings: Settings) -> None:
    """Write :data:`EVENTS` events and registry records (with overwrites and a tombstone)."""
    topics = settings.kafka.topics
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", enable_idempotence=True
    )
    try:
        for i in range(EVENTS):
            producer.send(topics.events, key=f"hh-{i % 7}".encode(), value=f"event-{i}".encode())
        for version in range(3):  # three versions of each key: compaction may keep the last
            for n in range(20):
                key, value = f"device:d{n}".encode(), f"v{version}".encode()
                producer.send(topics.registry, key=key, value=value)
        producer.send(topics.registry, key=b"device:d0", value=None)
        producer.flush(60)
    finally:
        producer.close()


def commit_durable(settings: Settings) -> None:
    """Commit a group position on partition 0 of the events topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=GROUP,
        enable_auto_commit=False,
    )
    try:
        tp = TopicPartition(settings.kafka.topics.events, 0)
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(COMMITTED, "", -1)})
    finally:
        consumer.close()


def _committed(settings: Settings) -> int | None:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=GROUP,
        enable_auto_commit=False,
    )
    try:
        return consumer.committed(TopicPartition(settings.kafka.topics.events, 0))
    finally:
        consumer.close()


def _registry_view(settings: Settings) -> dict[bytes, bytes | None]:
    """The registry as a reader rebuilds it: the last value per key (None: tombstone)."""
    tail = KafkaTail(settings, settings.kafka.topics.registry)
    try:
        records = tail.wait_for(lambda got: any(k == b"device:d0" and v is None for k, v in got))
    finally:
        tail.close()
    return {key: value for key, value in records if key is not None}


def _cleanup_policy(settings: Settings) -> str:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, settings.kafka.topics.registry)
        result = admin.describe_configs([resource], config_filter="all")
    finally:
        admin.close()
    return _find_value(result, "cleanup.policy")


def _find_value(tree: Any, name: str) -> str:
    """The value of config ``name`` in describe_configs' nested answer."""
    if isinstance(tree, dict):
        if name in tree:
            entry = tree[name]
            return str(entry.get("value") if isinstance(entry, dict) else entry)
        for child in tree.values():
            found = _find_value(child, name)
            if found:
                return found
    return ""


def durable_events(settings: Settings, expect: int) -> list[bytes]:
    """The values on the events topic, sorted, once at least ``expect`` are read."""
    tail = KafkaTail(settings, settings.kafka.topics.events)
    try:
        records = tail.wait_for(lambda got: len(got) >= expect, timeout_s=60)
    finally:
        tail.close()
    return sorted(value for _key, value in records)


def _expected_registry() -> dict[bytes, bytes | None]:
    view: dict[bytes, bytes | None] = {f"device:d{n}".encode(): b"v2" for n in range(20)}
    view[b"device:d0"] = None
    return view


def check_everything_there(settings: Settings) -> None:
    """Assert that the events, the registry as a reader rebuilds it, its compaction and the
    group's offset are all there."""
    events = durable_events(settings, EVENTS)
    assert events == sorted(f"event-{i}".encode() for i in range(EVENTS))
    assert _registry_view(settings) == _expected_registry()
    assert _cleanup_policy(settings) == "compact"
    assert _committed(settings) == COMMITTED
