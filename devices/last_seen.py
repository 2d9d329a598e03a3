"""Learning each device's and gateway's last report by consuming ``anbu.events`` and ``anbu.sos``.

The commissioning check needs "has this device reported since it was installed?". The
registry reads the bridge's own output (aiokafka group consumer, see
:mod:`anbu.kafka_topics`) and keeps the latest broker receive time per device.
Receive times are used, not device clocks, so a device with a clock in the future cannot
look healthy.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError
from sqlalchemy import Engine, bindparam, or_, update

from anbu.events import EventBatch, SosEvent
from anbu.kafka_consumers import GROUP_TIMEOUTS, Committer, RestartPolicy, keep_running
from anbu.kafka_topics import ensure_topics
from anbu.timeutil import utcnow
from config import Settings
from devices.models import Device, Gateway, UtcDateTime, table_of

log = logging.getLogger(__name__)

WHAT = "last-seen consumer"


class LastSeenConsumer:
    """Consumes events and writes last-seen times every ``registry.last_seen_flush``."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        """Prepare (nothing connects until :meth:`run`)."""
        self.settings = settings
        self.engine = engine
        self.devices: dict[str, datetime] = {}
        self.gateways: dict[str, datetime] = {}
        self.records_seen = 0
        self.bad_records = 0
        # never gives up: the web process it runs in serves installers and care staff
        # without it, and exiting would take the inbox down with it
        self.policy = replace(RestartPolicy.from_settings(settings), give_up_after=None)

    def note(self, topic: str, value: bytes | None) -> None:
        """Take one Kafka record's events into account (bad records are counted and skipped)."""
        if value is None:
            return
        self.records_seen += 1
        latest = utcnow() + timedelta(minutes=1)
        try:
            if topic == self.settings.kafka.topics.sos:
                sos = SosEvent.from_json(value)
                self._seen(self.devices, sos.device_id, min(sos.receive_time, latest))
                return
            batch = EventBatch.from_json(value)
        except (ValidationError, ValueError):
            self.bad_records += 1
            return
        for event in batch.events:
            when = min(event.receive_time, latest)
            self._seen(self.devices, event.device_id, when)
            if event.gateway_id:
                self._seen(self.gateways, event.gateway_id, when)
            # Gateway heartbeats may name the gateway as the device.
            self._seen(self.gateways, event.device_id, when)

    @staticmethod
    def _seen(table: dict[str, datetime], key: str, when: datetime) -> None:
        if key not in table or table[key] < when:
            table[key] = when

    def flush(self) -> int:
        """Write the collected times (only ever moving them forward); return rows touched."""
        devices, self.devices = self.devices, {}
        gateways, self.gateways = self.gateways, {}
        touched = 0
        with self.engine.begin() as connection:
            for model, seen in ((Device, devices), (Gateway, gateways)):
                if not seen:
                    continue
                table = table_of(model)
                when = bindparam("seen_at", type_=UtcDateTime())
                # One executemany per table: a busy fleet reports thousands of devices a second.
                statement = (
                    update(table)
                    .where(table.c.id == bindparam("seen_id"))
                    .where(or_(table.c.last_seen_at.is_(None), table.c.last_seen_at < when))
                    .values(last_seen_at=when)
                )
                rows = [{"seen_id": ident, "seen_at": at} for ident, at in seen.items()]
                result = connection.execute(statement, rows)
                touched += max(getattr(result, "rowcount", 0) or 0, 0)
        return touched

    async def run(self) -> None:
        """Consume until cancelled; reconnect after Kafka errors."""
        await keep_running(self._session, WHAT, self.policy)

    async def _session(self) -> None:
        topics = self.settings.kafka.topics
        await asyncio.to_thread(ensure_topics, self.settings, 15)
        async with AIOKafkaConsumer(
            topics.events,
            topics.sos,
            bootstrap_servers=self.settings.kafka.bootstrap_servers,
            client_id=f"{self.settings.kafka.client_id}-registry",
            group_id=self.settings.registry.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **GROUP_TIMEOUTS,
        ) as consumer:
            await self._consume(consumer)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        interval = self.settings.registry.last_seen_flush.total_seconds()
        loop = asyncio.get_running_loop()
        next_flush = loop.time() + interval
        committer = Committer(WHAT, self.policy)
        while True:
            batches = await consumer.getmany(timeout_ms=int(interval * 1000), max_records=5000)
            for tp, messages in batches.items():
                for message in messages:
                    self.note(tp.topic, message.value)
            if loop.time() >= next_flush:
                if self.devices or self.gateways:
                    await asyncio.to_thread(self.flush)
                    await committer.commit(consumer)
                    committer.check()
                next_flush = loop.time() + interval
