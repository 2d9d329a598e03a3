"""Writing to Kafka, and acknowledging each MQTT message only once Kafka has its records.

Telemetry is gathered per partition of ``anbu.events`` into :class:`anbu.events.EventBatch`
records (up to ``batch_max_events`` events, or ``batch_linger`` old). A household's events go
to the partition Kafka's default partitioner gives its key
(:func:`anbu.partitioning.partition_of`, the rule the detector worker expects), so each
household stays on one partition, in order, as if its events were sent keyed one by one;
a record then carries several households (one household per record made records of 2 or 3
events in a real load, and consumers pay per record). SOS and dead letters are sent at once,
one record each, so an SOS never waits behind telemetry. Every record lists the MQTT
messages it carries; a message is acknowledged when all its records are confirmed
(``acks=all``). A failed send is retried until it succeeds; meanwhile the message stays
unacknowledged, so even a crash loses nothing (the broker redelivers).

A kafka-python idempotent producer that hit a fatal error (after a broker restart Tansu
answers ``InitProducerId`` with ``UnknownError``) never sends again: it aborts every batch
for ever. The sink then replaces it with a new producer; the aborted records come back
through their error callbacks and are sent again on the new one (at least once: a record
Kafka had but did not confirm may be written twice; consumers deduplicate by idempotency
key). :meth:`KafkaSink.health` says whether Kafka confirms what the bridge sends.
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

from anbu.events import SCHEMA_VERSION
from anbu.health import Report
from anbu.kafka_producers import abandon
from anbu.partitioning import partition_of
from config import Settings
from ingest.normalise import EventDict
from ingest.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)


_FAILURES_BEFORE_REPLACING = 20
"""Sends failed in a row, none confirmed, before the producer is replaced anyway."""

_STALLED_BEFORE_REPLACING_S = 20.0
"""Seconds with work waiting and nothing confirmed before the producer is replaced anyway
(then again at growing intervals, up to 30 s, while nothing is confirmed)."""


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


@dataclass(slots=True)
class _Batch:
    started: float
    events: list[EventDict] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    households: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Record:
    """A record on its way to Kafka (again, after ``attempt`` failures, from ``due`` on)."""

    topic: str
    key: bytes | None
    value: bytes
    deliveries: list[Delivery]
    partition: int | None = None
    attempt: int = 0
    due: float = 0.0


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
        settings: Settings,
        on_delivered: Callable[[list[Delivery]], None],
        on_error: Callable[[], None] | None = None,
        producer: KafkaProducer | None = None,
    ) -> None:
        self.topics = settings.kafka.topics
        self.max_events = settings.ingest.batch_max_events
        self.linger_s = settings.ingest.batch_linger.total_seconds()
        self._on_delivered = on_delivered
        self._on_error = on_error
        self._kafka = settings.kafka
        self.producer: KafkaProducer | None = producer or self._new_producer()
        self.partitions: int = settings.kafka.topics.partitions
        self._lock = threading.Lock()
        self._batches: dict[int, _Batch] = {}
        self._retries: list[_Record] = []
        self._stop = threading.Event()
        self._log = RateLimitedLog(log, settings.ingest.log_every.total_seconds())
        self._thread = threading.Thread(target=self._flusher, name="kafka-sink", daemon=True)
        # health: when Kafka last confirmed a record, the last failure, work not confirmed
        self._unconfirmed = 0
        self._waiting_since: float | None = None
        self._replaced_at = float("-inf")  # monotonic time of the last replacement
        self._confirmed_at: float | None = None
        self._last_error: str | None = None
        self._failures_in_a_row = 0
        self._replace_after = 0.0
        self.replacements = 0

    def _new_producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            client_id=f"{self._kafka.client_id}-bridge",
            acks="all",
            linger_ms=0,  # telemetry is batched here; SOS must not wait
            retries=5,
            max_in_flight_requests_per_connection=5,
            request_timeout_ms=15_000,
            delivery_timeout_ms=30_000,
            # A send blocks the MQTT thread while metadata is missing (Kafka away); short,
            # so the MQTT connection is kept and the record goes to the retry list instead.
            max_block_ms=5_000,
            metrics_enabled=False,  # the bridge counts what matters itself; saves CPU per send
        )

    def start(self) -> None:
        """Learn the events topic's partitions and start the flushing thread.

        The thread sends lingering batches and retries failed sends.
        """
        try:
            known = self.producer.partitions_for(self.topics.events) if self.producer else None
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
        partition = partition_of(household_id, self.partitions)
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
        self._send(_Record(topic, key, value, [delivery]))

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
        self._send(_Record(self.topics.events, key, value, batch.deliveries, partition))

    def _send(self, record: _Record) -> None:
        with self._lock:
            self._unconfirmed += 1
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()
        try:
            producer = self.producer
            if producer is None:
                raise ConnectionError("no Kafka producer (Kafka was not reachable)")
            future = producer.send(record.topic, key=record.key, value=record.value,
                                   partition=record.partition)
        except Exception as exc:  # buffer full, producer closed, Kafka away: retry later
            self._failed(record, exc)
            return
        future.add_callback(lambda _meta: self._settle(record.deliveries))
        future.add_errback(lambda exc: self._failed(record, exc))

    def _failed(self, record: _Record, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error()
        self._log.error("send", "Kafka send to %s failed (will retry): %r", record.topic, exc)
        record.due = time.monotonic() + min(10.0, 0.2 * 2**record.attempt)
        record.attempt += 1
        with self._lock:
            self._unconfirmed -= 1
            self._last_error = f"{time.strftime('%H:%M:%S')} {exc!r}"[:300]
            self._failures_in_a_row += 1
            self._retries.append(record)

    def _settle(self, deliveries: list[Delivery]) -> None:
        done: list[Delivery] = []
        with self._lock:
            self._unconfirmed -= 1
            self._confirmed_at = time.monotonic()
            self._failures_in_a_row = 0
            if self._unconfirmed == 0 and not self._retries and not self._batches:
                self._waiting_since = None
            else:
                self._waiting_since = self._confirmed_at
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
            retries: list[_Record] = []
            keep: list[_Record] = []
            for retry in self._retries:
                (retries if everything or retry.due <= now else keep).append(retry)
            self._retries = keep
        for partition, batch in batches:
            self._send_batch(partition, batch)
        for retry in retries:
            self._send(retry)

    def _broken(self) -> bool:
        """Whether the producer can no longer send (fatal error, or none at all)."""
        producer = self.producer
        if producer is None:
            return True
        # kafka-python keeps a fatal state only here; an idempotent producer in it aborts
        # every batch for ever (Tansu after a restart: InitProducerId -> UnknownError).
        manager = getattr(producer, "_transaction_manager", None)
        if manager is not None and manager.has_fatal_error():
            return True
        # Whatever else makes every send fail, or leaves sends neither confirmed nor failed
        # (seen with Apache Kafka after a SIGKILL: a producer wedged for minutes, no error):
        # a new producer is cheap; try one.
        # A new producer is judged by its own time, not by the stall it inherited: judged by
        # the old one's, it was thrown away after 2, 4, 8 s while Kafka came back.
        stalled = min(self.stalled_s(), time.monotonic() - self._replaced_at)
        return (self._failures_in_a_row >= _FAILURES_BEFORE_REPLACING
                or stalled >= _STALLED_BEFORE_REPLACING_S)

    def replace_producer_if_broken(self) -> bool:
        """Replace a producer that cannot send any more; return whether it was replaced.

        The old producer is closed at once; the records it held fail through their error
        callbacks into the retry list and are sent again on the new producer. Attempts are
        spaced (1 s, doubling up to 30 s) while Kafka stays away.
        """
        now = time.monotonic()
        if now < self._replace_after or not self._broken():
            return False
        old = self.producer
        try:
            new = self._new_producer()
        except Exception as exc:  # Kafka not reachable: keep trying, spaced
            self._replace_after = now + min(30.0, 2.0 ** min(self.replacements, 5))
            self._log.error("producer", "new Kafka producer not created: %r", exc)
            with self._lock:
                self._last_error = f"{time.strftime('%H:%M:%S')} {exc!r}"[:300]
            return False
        self.replacements += 1
        self._replace_after = now + min(30.0, 2.0 ** min(self.replacements, 5))
        with self._lock:
            self._failures_in_a_row = 0
        self.producer = new
        log.warning("Kafka producer replaced (%d so far): the old one could not send; "
                    "records it held are sent again", self.replacements)
        self._replaced_at = time.monotonic()
        if old is not None:
            abandon(old)
        # What the old producer held failed into the retry list with backoffs meant for a
        # broken producer; the new one sends it now.
        with self._lock:
            for record in self._retries:
                record.due = 0.0
        return True

    def stalled_s(self) -> float:
        """Seconds work has waited with nothing confirmed by Kafka (0 when none waits)."""
        waiting = self._waiting_since
        return 0.0 if waiting is None else time.monotonic() - waiting

    def health(self, stuck_after_s: float) -> Report:
        """Whether Kafka confirms what the bridge sends (for :mod:`anbu.health`).

        Degraded once work has waited ``stuck_after_s`` with nothing confirmed.
        """
        now = time.monotonic()
        with self._lock:
            waiting = self._waiting_since
            pending = self._unconfirmed + len(self._retries) + sum(
                len(b.deliveries) for b in self._batches.values()
            )
            error, confirmed = self._last_error, self._confirmed_at
        facts: dict[str, Any] = {
            "unconfirmed_records": pending,
            "last_error": error,
            "producer_replacements": self.replacements,
            "last_kafka_confirm_s_ago": None if confirmed is None else round(now - confirmed, 1),
        }
        if waiting is not None and now - waiting >= stuck_after_s:
            reason = (f"Kafka has confirmed nothing for {now - waiting:.0f} s; "
                      f"{pending} records waiting (last error: {error})")
            return Report(reason, facts)
        return Report(None, facts)

    def _flusher(self) -> None:
        tick = max(0.001, self.linger_s / 2)
        while not self._stop.wait(tick):
            try:
                self.replace_producer_if_broken()
                self.flush_due()
            except Exception as exc:  # never let the flusher die
                self._log.error("flusher", "flushing batches failed: %r", exc)

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued, wait for Kafka up to ``timeout_s``, and close."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.flush_due(everything=True)
        if self.producer is None:
            return
        try:
            self.producer.flush(timeout=timeout_s)
        except Exception as exc:  # Kafka away: those messages stay unacknowledged, redelivered
            log.warning(
                "Kafka did not confirm everything before stopping (%r); the broker "
                "will redeliver the unacknowledged messages",
                exc,
            )
            abandon(self.producer)  # close() would flush again, and raise again
        else:
            self.producer.close(timeout=timeout_s)
