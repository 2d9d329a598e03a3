"""Writing to Kafka, and acknowledging each MQTT message only once Kafka has its records.

Telemetry is gathered per partition of ``anbu.events`` into :class:`anbu.events.EventBatch`
records (up to ``batch_max_events`` events, or ``batch_linger`` old). A household's events go
to the partition Kafka's default partitioner gives its key (:func:`partition_for`), so each
household stays on one partition, in order, as if its events were sent keyed one by one;
a record then carries several households (one household per record made records of 2 or 3
events in a real load, and consumers pay per record). SOS and dead letters are sent at once,
one record each, so an SOS never waits behind telemetry. Every record lists the MQTT
messages it carries; a message is acknowledged when all its records are confirmed
(``acks=all``). A failed send is retried until it succeeds; meanwhile the message stays
unacknowledged, so even a crash loses nothing (the broker redelivers).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from anbu.events import SCHEMA_VERSION
from ingest.normalise import EventDict
from ingest.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)


class Delivery:
    """One MQTT message waiting for Kafka to confirm all of its records.

    Attributes:
        mid: the MQTT message id to acknowledge.
        qos: its QoS (0 needs no acknowledgement).
        generation: the MQTT connection it arrived on; an acknowledgement for a connection
            that has since been replaced is not sent (the broker redelivers it instead).
        pending: records made from the message that Kafka has not confirmed yet (known
            before any is sent, so a fast confirmation cannot complete it early).
    """

    __slots__ = ("generation", "mid", "pending", "qos")

    def __init__(self, mid: int, qos: int, generation: int, records: int) -> None:
        self.mid = mid
        self.qos = qos
        self.generation = generation
        self.pending = records


def partition_for(household_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2 of the key) gives a household."""
    return (murmur2(household_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass(slots=True)
class _Batch:
    started: float
    events: list[EventDict] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    households: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Retry:
    due: float
    topic: str
    key: bytes | None
    value: bytes
    deliveries: list[Delivery]
    attempt: int
    partition: int | None = None


class KafkaSink:
    """Sends records and reports each MQTT message whose records Kafka has confirmed.

    Args:
        settings: anbu settings.
        on_delivered: called (from a Kafka I/O thread) with the messages a confirmation
            completed, all at once, so their MQTT acknowledgements can go out together.
        on_error: called for each failed send (before it is retried).
        producer: an existing producer (tests); default: one built from the settings.
    """

    def __init__(
        self,
        settings: Any,
        on_delivered: Callable[[list[Delivery]], None],
        on_error: Callable[[], None] | None = None,
        producer: KafkaProducer | None = None,
    ) -> None:
        self.topics = settings.kafka.topics
        self.max_events = settings.ingest.batch_max_events
        self.linger_s = settings.ingest.batch_linger.total_seconds()
        self._on_delivered = on_delivered
        self._on_error = on_error
        self.producer = producer or KafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            client_id=f"{settings.kafka.client_id}-bridge",
            acks="all",
            linger_ms=0,  # telemetry is batched here; SOS must not wait
            retries=5,
            max_in_flight_requests_per_connection=5,
            request_timeout_ms=15_000,
            delivery_timeout_ms=30_000,
            max_block_ms=30_000,
            metrics_enabled=False,  # the bridge counts what matters itself; saves CPU per send
        )
        self.partitions: int = settings.kafka.topics.partitions
        self._lock = threading.Lock()
        self._batches: dict[int, _Batch] = {}
        self._retries: list[_Retry] = []
        self._stop = threading.Event()
        self._log = RateLimitedLog(log, settings.ingest.log_every.total_seconds())
        self._thread = threading.Thread(target=self._flusher, name="kafka-sink", daemon=True)

    def start(self) -> None:
        """Learn the events topic's partitions and start the flushing thread.

        The thread sends lingering batches and retries failed sends.
        """
        try:
            known = self.producer.partitions_for(self.topics.events)
        except Exception as exc:  # Kafka not reachable yet: the configured count
            known = None
            log.warning("partitions of %s unknown (%r)", self.topics.events, exc)
        if known and len(known) != self.partitions:
            log.warning("%s has %d partitions, not the configured %d: using %d",
                        self.topics.events, len(known), self.partitions, len(known))
            self.partitions = len(known)
        self._thread.start()

    # -- adding work (MQTT thread) ------------------------------------------------------

    def add_events(self, household_id: str, events: list[EventDict], delivery: Delivery) -> None:
        """Queue telemetry of one household for its partition's next batch (one record)."""
        partition = partition_for(household_id, self.partitions)
        full: _Batch | None = None
        with self._lock:
            batch = self._batches.get(partition)
            if batch is None:
                batch = self._batches[partition] = _Batch(time.monotonic())
            batch.events.extend(events)
            batch.deliveries.append(delivery)
            batch.households.add(household_id)
            if len(batch.events) >= self.max_events:
                full = self._batches.pop(partition)
        if full is not None:
            self._send_batch(partition, full)

    def send_now(self, topic: str, key: bytes, value: bytes, delivery: Delivery) -> None:
        """Send one record at once (SOS, dead letter)."""
        self._send(topic, key, value, [delivery], 0)

    # -- Kafka ----------------------------------------------------------------------

    def _send_batch(self, partition: int, batch: _Batch) -> None:
        # The JSON of anbu.events.EventBatch, written directly (see ingest.normalise.EventDict).
        record: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "type": "batch"}
        key: bytes | None = None
        if len(batch.households) == 1:
            # one household: named and keyed, as records were before batches were mixed
            (household_id,) = batch.households
            record["household_id"] = household_id
            key = household_id.encode()
        record["events"] = batch.events
        value = orjson.dumps(record)  # compact UTF-8, as pydantic writes; ~10x json.dumps
        self._send(self.topics.events, key, value, batch.deliveries, 0, partition)

    def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        deliveries: list[Delivery],
        attempt: int,
        partition: int | None = None,
    ) -> None:
        try:
            future = self.producer.send(topic, key=key, value=value, partition=partition)
        except Exception as exc:  # buffer full or producer closed: retry later
            self._failed(topic, key, value, deliveries, attempt, partition, exc)
            return
        future.add_callback(lambda _meta: self._settle(deliveries))
        future.add_errback(
            lambda exc: self._failed(topic, key, value, deliveries, attempt, partition, exc)
        )

    def _failed(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        deliveries: list[Delivery],
        attempt: int,
        partition: int | None,
        exc: BaseException,
    ) -> None:
        if self._on_error is not None:
            self._on_error()
        self._log.error("send", "Kafka send to %s failed (will retry): %r", topic, exc)
        delay = min(10.0, 0.2 * 2**attempt)
        with self._lock:
            self._retries.append(
                _Retry(time.monotonic() + delay, topic, key, value, deliveries, attempt + 1,
                       partition)
            )

    def _settle(self, deliveries: list[Delivery]) -> None:
        done: list[Delivery] = []
        with self._lock:
            for delivery in deliveries:
                delivery.pending -= 1
                if delivery.pending == 0:
                    done.append(delivery)
        if done:
            self._on_delivered(done)

    # -- background -----------------------------------------------------------------

    def flush_due(self, now: float | None = None, *, everything: bool = False) -> None:
        """Send batches older than the linger time (all of them with ``everything``)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [
                partition
                for partition, batch in self._batches.items()
                if everything or now - batch.started >= self.linger_s
            ]
            batches = [(partition, self._batches.pop(partition)) for partition in due]
            retries: list[_Retry] = []
            keep: list[_Retry] = []
            for retry in self._retries:
                (retries if everything or retry.due <= now else keep).append(retry)
            self._retries = keep
        for partition, batch in batches:
            self._send_batch(partition, batch)
        for retry in retries:
            self._send(retry.topic, retry.key, retry.value, retry.deliveries, retry.attempt,
                       retry.partition)

    def _flusher(self) -> None:
        tick = max(0.001, self.linger_s / 2)
        while not self._stop.wait(tick):
            try:
                self.flush_due()
            except Exception as exc:  # never let the flusher die
                self._log.error("flusher", "flushing batches failed: %r", exc)

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued, wait for Kafka up to ``timeout_s``, and close."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.flush_due(everything=True)
        try:
            self.producer.flush(timeout=timeout_s)
        except Exception as exc:  # Kafka away: those messages stay unacknowledged, redelivered
            log.warning(
                "Kafka did not confirm everything before stopping (%r); the broker "
                "will redeliver the unacknowledged messages",
                exc,
            )
        finally:
            self.producer.close(timeout=timeout_s)
