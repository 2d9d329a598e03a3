"""The alerts service's two Kafka inputs: detector events on ``anbu.alerts``, SOS on ``anbu.sos``.

Split from :mod:`alerts.service`: the consumers (in the service's group, committed by hand
after each batch), reading the records, and dead-lettering what is not an alert event.
What an event does is the service's: it is handed to ``apply``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from alerts import metrics
from anbu.events import AlertEvent, DeadLetter, SosEvent
from anbu.kafka_consumers import GROUP_TIMEOUTS, Committer, RestartPolicy, stop_consumer
from anbu.sos import sos_alert
from anbu.timeutil import utcnow
from config import Settings

log = logging.getLogger(__name__)


@dataclass(eq=False)
class AlertIntake:
    """Consume ``anbu.alerts`` and ``anbu.sos``; hand every alert event to ``apply``.

    Attributes:
        settings: anbu settings.
        policy: the commit and restart policy of the service's loops.
        apply: what to do with an alert event (the service's lifecycle and dispatch).
        consuming: set once the ``anbu.alerts`` consumer has partitions.
        consumer: the ``anbu.alerts`` consumer while it runs.
        producer: where invalid alert events are dead-lettered (set once the service
            started it).
    """

    settings: Settings
    policy: RestartPolicy
    apply: Callable[[AlertEvent], None]
    consuming: asyncio.Event = field(default_factory=asyncio.Event)
    consumer: AIOKafkaConsumer | None = None
    producer: AIOKafkaProducer | None = None

    def group_consumer(self, topic: str, suffix: str) -> AIOKafkaConsumer:
        """A consumer of ``topic`` in the service's group (plus ``suffix``), committed by hand."""
        kafka = self.settings.kafka
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka.bootstrap_servers,
            client_id=f"{kafka.client_id}-alerts{suffix}",
            group_id=f"{self.settings.alerts.group_id}{suffix}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # An SOS must not wait for a fetch to fill up: ask again every 10 ms.
            fetch_max_wait_ms=10,
            **GROUP_TIMEOUTS,
        )

    async def consume_alerts(self) -> None:
        """Apply the detectors' alert events; dead-letter records that are not one."""
        consumer = self.group_consumer(self.settings.kafka.topics.alerts, "")
        self.consumer = consumer
        # Safe to fail: events are deduplicated, a redelivery after a rebalance is a no-op.
        committer = Committer("alerts alerts consumer", self.policy)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                if consumer.assignment():
                    self.consuming.set()
                if not batches:
                    await committer.commit_if_idle(consumer)  # shows a lost broker
                    continue
                for records in batches.values():
                    for record in records:
                        await self._handle(record.value, record.offset, record.partition)
                await committer.commit(consumer)
                committer.check()
        finally:
            await stop_consumer(consumer, self.policy.commit_timeout_s)

    async def consume_sos(self) -> None:
        """Raise SOS alerts straight from ``anbu.sos``, beside the detector's own.

        An SOS must not wait behind telemetry in the detector worker, nor for a worker that
        is restarting; the lifecycle keeps one open SOS alert per household, so the
        detector's raise of the same SOS that follows changes nothing.
        """
        consumer = self.group_consumer(self.settings.kafka.topics.sos, "-sos")
        # a redelivered SOS finds its alert open: the lifecycle changes nothing
        committer = Committer("alerts sos consumer", self.policy)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for records in batches.values():
                    for record in records:
                        if record.value is None:
                            continue
                        try:
                            sos = SosEvent.from_json(record.value)
                        except ValidationError as exc:
                            # The detector worker dead-letters unreadable SOS records.
                            log.warning("unreadable SOS record skipped: %s", exc.errors()[0])
                            continue
                        self.apply(sos_alert(sos))
                if batches:
                    await committer.commit(consumer)
                    committer.check()
                else:
                    await committer.commit_if_idle(consumer)  # shows a lost broker
        finally:
            await stop_consumer(consumer, self.policy.commit_timeout_s)

    async def _handle(self, value: bytes | None, offset: int, partition: int) -> None:
        if value is None:
            return
        try:
            event = AlertEvent.from_json(value)
        except ValidationError as exc:
            metrics.EVENTS.labels("unknown", "invalid").inc()
            await self._dead_letter(value, f"not an AlertEvent: {exc.errors()[0]['msg']}")
            return
        self.apply(event)

    async def _dead_letter(self, value: bytes, reason: str) -> None:
        topic = self.settings.kafka.topics.alerts
        log.warning("dead-lettering a record from %s: %s", topic, reason)
        letter = DeadLetter(
            reason="invalid_alert_event",
            detail=reason[:500],
            topic=self.settings.kafka.topics.alerts,
            payload=value.decode("utf-8", errors="replace"),
            receive_time=utcnow(),
        )
        if self.producer is not None:
            try:
                await self.producer.send_and_wait(
                    self.settings.kafka.topics.deadletter, letter.to_json()
                )
            except KafkaError as exc:
                log.error("could not dead-letter an invalid alert event: %s", exc)
