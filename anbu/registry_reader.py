"""Reading the compacted ``anbu.registry`` topic: the whole snapshot first, then every change.

Every process needs every record, so there is no consumer group: the reader assigns itself
all of the topic's partitions. :attr:`RegistryReader.loaded` is set once everything that was
on the topic when the reader first connected has been applied (at once for an empty topic),
so a process can hold work back until it knows every household and device.

Example (asyncio)::

    reader = RegistryReader(settings, on_change, client_id="anbu-alerts-registry")
    task = asyncio.create_task(reader.run())      # until cancelled; reconnects by itself
    await reader.wait_loaded(10)
    ...
    task.cancel()

A thread without an event loop runs it with :class:`ingest.registry_follower.RegistryFollower`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from anbu.kafka_consumers import RestartPolicy, keep_running
from anbu.registry_records import RegistryRecord, parse_registry_record, record_key

log = logging.getLogger(__name__)

WARN_EVERY_S = 30.0
"""At most one warning per kind (unreadable records, missing topic) in this many seconds."""


@dataclass(frozen=True, slots=True)
class RegistryChange:
    """One record of the registry topic.

    Attributes:
        key: ``"<type>:<id>"`` (``device:dev-0042``); from the record when Kafka's key is
            missing.
        record: the entity now; a retired one has ``record.retired``; ``None`` for a
            tombstone (the entity is gone).
    """

    key: str
    record: RegistryRecord | None


class RegistryReader:
    """Applies every registry record to ``apply``, in topic order per partition.

    ``apply`` runs on the reader's event loop, one record at a time; an exception from it
    is logged and the record counted in :attr:`bad_records`, and reading goes on.
    Unreadable records are skipped the same way. After a Kafka error the reader reconnects
    and continues where it was (nothing is applied twice in one process).

    Args:
        settings: anbu settings (``kafka.bootstrap_servers``, ``kafka.topics.registry``).
        apply: called with each :class:`RegistryChange`.
        client_id: the Kafka client id (say which process reads).
        retry_max_s: the longest wait between reconnection attempts.

    Attributes:
        loaded: set once the snapshot that was on the topic at start is applied.
        records: records read (tombstones and unreadable ones included).
        bad_records: records skipped: unreadable, or ``apply`` failed on them.
    """

    def __init__(
        self,
        settings: Any,
        apply: Callable[[RegistryChange], None],
        *,
        client_id: str,
        retry_max_s: float = 5.0,
    ) -> None:
        self.topic: str = settings.kafka.topics.registry
        self.bootstrap_servers: list[str] = list(settings.kafka.bootstrap_servers)
        self.client_id = client_id
        self.retry_max_s = retry_max_s
        self.loaded = asyncio.Event()
        self.records = 0
        self.bad_records = 0
        self._apply = apply
        self._positions: dict[TopicPartition, int] = {}
        self._warned: dict[str, float] = {}

    async def run(self) -> None:
        """Read and follow the topic until cancelled, reconnecting after errors."""
        # never gives up: it runs in the detector worker too, whose process Faust owns, and
        # a reader that cannot reach Kafka only delays settings, which arrive on reconnection
        await keep_running(
            self._session,
            f"registry reader of {self.topic}",
            RestartPolicy(max_delay_s=self.retry_max_s, give_up_after=None),
        )

    async def wait_loaded(self, timeout_s: float | None = None) -> bool:
        """Wait until :attr:`loaded`; return whether it is (False after ``timeout_s``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.loaded.wait(), timeout_s)
        return self.loaded.is_set()

    async def _session(self) -> None:
        while True:
            async with AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                # a saved position past the end (the broker lost the topic and it was
                # published again) means read the topic again from its start
                auto_offset_reset="earliest",
            ) as consumer:
                # aiokafka 0.14 raises CancelledError from stop() if its own task has not
                # run yet; that would end the reader as if it had been cancelled.
                await asyncio.sleep(0)
                # Ask for every topic's metadata: a request naming the topic would create
                # it (uncompacted) on a broker that auto-creates topics, and the consumer's
                # own metadata holds only topics it is assigned.
                cluster = await consumer._client.fetch_all_metadata()
                numbers = cluster.partitions_for_topic(self.topic)
                if numbers:
                    await self._follow(
                        consumer, [TopicPartition(self.topic, n) for n in sorted(numbers)]
                    )
                # The registry may not have published yet.
                self._warn("missing", "registry topic %s does not exist yet", self.topic)
                await asyncio.sleep(1.0)

    async def _follow(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> NoReturn:
        consumer.assign(partitions)
        fresh = [tp for tp in partitions if tp not in self._positions]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        for tp in partitions:
            if tp in self._positions:
                consumer.seek(tp, self._positions[tp])
        ends = {} if self.loaded.is_set() else await consumer.end_offsets(partitions)
        while True:
            if not self.loaded.is_set() and await _reached(consumer, ends):
                log.info("registry %s loaded: %d records", self.topic, self.records)
                self.loaded.set()
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                for message in messages:
                    self._take(message.key, message.value)
                    self._positions[tp] = message.offset + 1

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        self.records += 1
        name = key.decode(errors="replace") if key else ""
        if value is None:
            if name:  # a tombstone without a key names nothing
                self._hand_over(RegistryChange(name, None))
            return
        try:
            record = parse_registry_record(value)
        except ValidationError as exc:
            self.bad_records += 1
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            self._warn(
                "bad",
                "unreadable registry record %r skipped (%d errors; %s: %s)",
                name,
                exc.error_count(),
                where,
                first["msg"],
            )
            return
        self._hand_over(RegistryChange(name or record_key(record).decode(), record))

    def _hand_over(self, change: RegistryChange) -> None:
        try:
            self._apply(change)
        except Exception:  # noqa: BLE001 - one record must not stop the registry for all
            self.bad_records += 1
            log.exception("applying registry record %s failed; skipped", change.key)

    def _warn(self, kind: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        last = self._warned.get(kind)
        if last is None or now - last >= WARN_EVERY_S:
            self._warned[kind] = now
            log.warning(msg, *args)


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether the consumer's position is at or past ``ends`` on every partition."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
