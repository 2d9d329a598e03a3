"""Publishing registry changes to the compacted ``anbu.registry`` topic (kafka-python)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from anbu.errors import AnbuError
from anbu.kafka_producers import abandon
from anbu.kafka_topics import ensure_topics
from anbu.registry_records import RegistryRecord, record_key
from config import Settings
from devices.changes import Changes
from devices.records import records_for

log = logging.getLogger(__name__)

_producers: dict[tuple[str, ...], KafkaProducer] = {}
_topics_ready: set[tuple[tuple[str, ...], str]] = set()
_lock = threading.Lock()
# After a failure, changes are left to the snapshot loop for a while instead of making every
# installer's request wait for Kafka's timeouts.
_RETRY_AFTER_S = 30.0
_down_until = 0.0
_snapshot_wanted = threading.Event()


def snapshot_wanted() -> bool:
    """Whether a change could not be published in this process since the last snapshot."""
    return _snapshot_wanted.is_set()


def _producer(settings: Settings) -> KafkaProducer:
    servers = tuple(settings.kafka.bootstrap_servers)
    with _lock:
        producer = _producers.get(servers)
        if producer is None:
            producer = KafkaProducer(
                bootstrap_servers=list(servers),
                client_id=f"{settings.kafka.client_id}-registry",
                acks="all",
                linger_ms=5,
                max_block_ms=10_000,
                request_timeout_ms=15_000,
                retries=5,
            )
            _producers[servers] = producer
        ready = (servers, settings.kafka.topics.registry)
        if ready not in _topics_ready:
            ensure_topics(settings, timeout_s=15)
            _topics_ready.add(ready)
        return producer


def publish(settings: Settings, records: Iterable[RegistryRecord]) -> int:
    """Send ``records`` to ``anbu.registry`` and wait until Kafka has them.

    Returns:
        How many records were sent.

    Raises:
        KafkaError: Kafka did not take them (the caller decides whether that is fatal).
    """
    producer = _producer(settings)
    topic = settings.kafka.topics.registry
    try:
        futures = [producer.send(topic, key=record_key(r), value=r.to_json()) for r in records]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
    except Exception:
        # A kafka-python producer that failed may never send again (a fatal InitProducerId
        # error after a broker restart): the next attempt gets a new one.
        _discard_producer(settings, producer)
        raise
    return len(futures)


def _discard_producer(settings: Settings, producer: KafkaProducer) -> None:
    servers = tuple(settings.kafka.bootstrap_servers)
    with _lock:
        if _producers.get(servers) is producer:
            del _producers[servers]
    abandon(producer)


def publish_changes(settings: Settings, engine: Engine, changes: Changes) -> bool:
    """Publish the entities in ``changes``; log and return False if Kafka refused.

    The periodic snapshot of the running web process republishes everything, so a change
    that could not be published now still reaches the bridge and the detectors.
    """
    global _down_until
    with Session(engine) as session:
        records = records_for(
            session, changes.centers, changes.households, changes.gateways, changes.devices
        )
    if time.monotonic() < _down_until:
        log.warning(
            "Kafka was unreachable moments ago; %d registry change(s) left to the next snapshot",
            len(records),
        )
        _snapshot_wanted.set()
        return False
    try:
        publish(settings, records)
        _down_until = 0.0
    except (KafkaError, AnbuError) as exc:
        _down_until = time.monotonic() + _RETRY_AFTER_S
        _snapshot_wanted.set()
        log.warning(
            "could not publish %d registry change(s) to %s (%s); the next snapshot will",
            len(records),
            settings.kafka.topics.registry,
            type(exc).__name__,
        )
        return False
    return True


def publish_snapshot(settings: Settings, engine: Engine) -> int:
    """Republish every center, household, gateway and device (refills a broker that lost data).

    Returns:
        How many records were published.
    """
    global _down_until
    _snapshot_wanted.clear()
    with Session(engine) as session:
        records = records_for(session)
    try:
        count = publish(settings, records)
    except BaseException:
        _snapshot_wanted.set()
        raise
    _down_until = 0.0
    return count


_watch: dict[tuple[str, ...], KafkaConsumer] = {}
_ends_seen: dict[tuple[tuple[str, ...], str], int] = {}


def registry_lost(settings: Settings) -> bool:
    """Whether the broker lost ``anbu.registry`` since the last call (so republish now).

    End offsets only grow on a topic that lives; a topic that is gone, or whose end offsets
    add up to less than seen before, was lost (a broker restarted without its data). Kafka
    unreachable is not a loss: the next call decides.
    """
    servers, topic = tuple(settings.kafka.bootstrap_servers), settings.kafka.topics.registry
    try:
        with _lock:
            consumer = _watch.get(servers)
            if consumer is None:
                consumer = _watch[servers] = KafkaConsumer(
                    bootstrap_servers=list(servers),
                    client_id=f"{settings.kafka.client_id}-registry-watch",
                    group_id=None,
                    enable_auto_commit=False,
                    request_timeout_ms=10_000,
                )
        topics = consumer.topics()  # a fresh metadata request, not the cached one
        if topic in topics:
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            total = sum(ends.values())
        else:
            total = -1
    except Exception as exc:  # noqa: BLE001 - Kafka away: nothing can be said yet
        log.info("registry topic not checked (%s)", type(exc).__name__)
        with _lock:
            stale = _watch.pop(servers, None)
        if stale is not None:
            stale.close()
        return False
    key = (servers, topic)
    seen = _ends_seen.get(key)
    _ends_seen[key] = max(total, 0)
    if seen is None or total >= seen:
        return False
    log.warning("Kafka lost %s (records %d, %d before): republishing the registry now",
                topic, max(total, 0), seen)
    with _lock:
        # the next publish creates the topic again, compacted, before producing to it
        _topics_ready.discard(key)
    return True


def close_producers() -> None:
    """Flush and close the producers (and the topic watch) this process opened."""
    with _lock:
        for producer in _producers.values():
            producer.close(timeout=5)
        _producers.clear()
        _topics_ready.clear()
        for consumer in _watch.values():
            consumer.close(timeout_ms=5000)
        _watch.clear()
        _ends_seen.clear()
