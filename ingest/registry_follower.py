"""Reads the registry topic from the beginning and keeps following it.

A kafka-python consumer with manual partition assignment (its group consumer does not work
against Tansu, and every bridge needs every record anyway). :attr:`RegistryFollower.loaded`
is set once everything that was on the topic at start-up has been applied, so the bridge
can hold messages back until it knows every device.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from anbu.registry_records import parse_registry_record
from ingest.ratelimit import RateLimitedLog
from ingest.registry_cache import RegistryCache

log = logging.getLogger(__name__)


class RegistryFollower(threading.Thread):
    """Keeps a :class:`RegistryCache` current from the registry topic.

    Args:
        settings: anbu settings (Kafka servers, registry topic name).
        cache: the cache to feed.
        on_change: called with the cache size after each batch of records.
    """

    def __init__(self, settings: Any, cache: RegistryCache, on_change: Any = None) -> None:
        super().__init__(name="registry-follower", daemon=True)
        self.settings = settings
        self.cache = cache
        self.topic: str = settings.kafka.topics.registry
        self.loaded = threading.Event()
        self._stop_event = threading.Event()
        self._positions: dict[TopicPartition, int] = {}
        self._on_change = on_change
        self._log = RateLimitedLog(log, settings.ingest.log_every.total_seconds())
        self.records = 0

    def stop(self) -> None:
        """Ask the thread to finish (it does within a poll interval)."""
        self._stop_event.set()

    def run(self) -> None:
        """Follow the topic, reconnecting after errors."""
        while not self._stop_event.is_set():
            try:
                self._follow()
            except Exception as exc:  # Kafka away: keep the cache, retry
                self._log.warning("follow", "registry topic %s unreadable: %r", self.topic, exc)
                self._stop_event.wait(1.0)

    def _consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.settings.kafka.bootstrap_servers,
            client_id=f"{self.settings.kafka.client_id}-bridge-registry",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=30_000,
        )

    def _follow(self) -> None:
        consumer = self._consumer()
        try:
            partitions = None
            while not self._stop_event.is_set():
                partitions = consumer.partitions_for_topic(self.topic)
                if partitions:
                    break
                self._log.warning("missing", "registry topic %s does not exist yet", self.topic)
                self._stop_event.wait(0.5)
            if not partitions:
                return
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            for tp in tps:
                if tp in self._positions:
                    consumer.seek(tp, self._positions[tp])
                else:
                    consumer.seek_to_beginning(tp)
            end = consumer.end_offsets(tps) if not self.loaded.is_set() else {}
            while not self._stop_event.is_set():
                batch = consumer.poll(timeout_ms=200, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        self._apply(record.key, record.value)
                        self._positions[tp] = record.offset + 1
                if batch and self._on_change is not None:
                    self._on_change(len(self.cache))
                if not self.loaded.is_set() and all(
                    consumer.position(tp) >= end.get(tp, 0) for tp in tps
                ):
                    log.info(
                        "registry loaded: %d devices from %d records", len(self.cache), self.records
                    )
                    self.loaded.set()
        finally:
            consumer.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        self.records += 1
        if value is None:
            if key is not None:
                self.cache.remove(key.decode(errors="replace"))
            return
        try:
            record = parse_registry_record(value)
        except ValidationError as exc:
            self._log.warning("bad", "unreadable registry record %r: %s", key, exc)
            return
        self.cache.apply(record)

    def wait_loaded(self, timeout_s: float | None = None) -> bool:
        """Block until the initial load is done; log while waiting. Return whether it is."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            step = 5.0 if deadline is None else min(5.0, max(0.0, deadline - time.monotonic()))
            if self.loaded.wait(step):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            log.info("waiting for the registry topic %s to load", self.topic)
