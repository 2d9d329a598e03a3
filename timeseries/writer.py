"""``anbu series``: consume events and the registry, write activity and health to InfluxDB.

Events come from ``anbu.events`` through an aiokafka group consumer (as every group consumer
of anbu's, see :mod:`anbu.kafka_topics`); offsets are committed only after the points
they produced were written, so a crash re-counts at most one flush interval. The registry's
compacted topic is read whole by every instance, without a group.

Device health follows the partitions too (:mod:`timeseries.health_partitions`): each writer
snapshots only the devices of the households whose partitions it owns.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection
from contextlib import suppress
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from pydantic import ValidationError

from anbu.events import EventBatch
from anbu.health import kafka_heartbeat
from anbu.influx import BufferedWriter, InfluxClient, InfluxError, Point
from anbu.kafka_consumers import (
    GROUP_TIMEOUTS,
    Committer,
    ConsumerGaveUp,
    RestartPolicy,
    keep_running,
    stop_consumer,
)
from anbu.kafka_topics import ensure_topics
from anbu.registry_reader import RegistryChange, RegistryReader
from anbu.timeutil import utcnow
from config import Settings
from timeseries.health_partitions import HealthPartitions, PolicyClient
from timeseries.rollup import SeriesRollup
from timeseries.schema import (
    REVIEW_RP,
    SERIES_OFFSETS,
    SERIES_STATUS,
    ensure_schema,
)
from timeseries.stored import read_counts, seek_past_stored

log = logging.getLogger(__name__)

WHAT = "series events consumer"


class _Rebalance(ConsumerRebalanceListener):
    """Resume each partition after the last record whose counts reached InfluxDB."""

    def __init__(self, writer: SeriesWriter) -> None:
        self.writer = writer

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        # The next owner cannot have them before this returns (aiokafka's rebalances are
        # eager): it resumes after what is written here, and counts nothing twice.
        await self.writer.hand_over(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        # Buckets another instance (or our previous run) wrote are seeded before rewriting.
        log.info("series writer assigned partitions [%s]",
                 ",".join(str(tp.partition) for tp in sorted(assigned)))
        self.writer.rollup.mark_restart(utcnow())
        await self.writer.resume(assigned)
        self.writer.take_health(assigned)


class _ReviewClient(PolicyClient):
    """Writes into the ``review`` retention policy (the weekly review's ten weeks)."""

    policy = REVIEW_RP


class SeriesWriter:
    """The running ``anbu series`` process.

    Args:
        settings: the loaded settings.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = InfluxClient.from_settings(settings)
        self.buffer = BufferedWriter(self.client, settings.influx.retry_buffer_points)
        self.review_buffer = BufferedWriter(
            _ReviewClient.from_settings(settings), settings.influx.retry_buffer_points
        )
        self.rollup = SeriesRollup(
            settings.series.dedupe_keys, settings.series.low_battery_percent
        )
        self.rollup.mark_restart(utcnow())
        self.health = HealthPartitions(settings, self.client, self.rollup)
        self.bad_records = 0
        self.flushes = 0
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self.policy = RestartPolicy.from_settings(settings)
        self.committer = Committer(WHAT, self.policy)
        self._flush_lock = asyncio.Lock()
        self.processed: dict[TopicPartition, int] = {}
        self.owner: dict[str, int] = {}  # household -> the partition its events came from
        self.registry = RegistryReader(
            settings, self._apply_registry, client_id=f"{settings.kafka.client_id}-series-registry"
        )

    def stop(self) -> None:
        """Ask :meth:`run` to flush and return."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until :meth:`stop`; flush on the way out.

        Raises:
            ConsumerGaveUp: the events consumer failed ``kafka.consumers.give_up_after``
                times in a row.
        """
        heartbeat = kafka_heartbeat(self.settings, "series")
        await asyncio.to_thread(ensure_topics, self.settings)
        await asyncio.to_thread(
            ensure_schema,
            self.client,
            recent_retention=self.settings.series.recent_retention,
            rollup_retention=self.settings.series.rollup_retention,
            health_retention=self.settings.series.health_retention,
            review_retention=self.settings.series.review_retention,
        )
        tasks = [
            asyncio.create_task(self.registry.run(), name="series-registry"),
            asyncio.create_task(self._flush_loop(), name="series-flush"),
            asyncio.create_task(self.health.run(self.registry), name="series-health"),
        ]
        events = asyncio.create_task(
            keep_running(self._session, WHAT, self.policy), name="series-events"
        )
        stopping = asyncio.create_task(self._stopping.wait(), name="series-stop")
        try:
            await asyncio.wait([events, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*tasks, events, stopping]:
                task.cancel()
            # the events session flushes what it counted as it ends
            ended = await asyncio.gather(*tasks, events, stopping, return_exceptions=True)
            with suppress(Exception):
                await self.flush()
            self.client.close()
            self.health.buffer.client.close()
            self.review_buffer.client.close()
            heartbeat.stop()
        gave_up = ended[len(tasks)]
        if isinstance(gave_up, ConsumerGaveUp):
            raise gave_up  # for the process to exit non-zero (``anbu series``)

    async def _session(self) -> None:
        """One events consumer, from its start until it fails (run under keep_running)."""
        kafka = self.settings.kafka
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers,
            client_id=f"{kafka.client_id}-series",
            group_id=self.settings.series.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
            **GROUP_TIMEOUTS,
        )
        consumer.subscribe([kafka.topics.events], listener=_Rebalance(self))
        self._consumer = consumer
        # a new member may find its old partitions were another's meanwhile: read them back
        self.health.let_go(set(self.health.owned))
        self.committer = Committer(WHAT, self.policy)
        try:
            await consumer.start()
            await self._consume(consumer)
        finally:
            # what was counted reaches InfluxDB with its offsets, where the next session
            # (or the next owner of the partitions) resumes
            with suppress(Exception):
                await asyncio.wait_for(self.flush(), self.policy.commit_timeout_s * 2)
            self._consumer = None
            await stop_consumer(consumer, self.policy.commit_timeout_s)

    def _apply_registry(self, change: RegistryChange) -> None:
        if change.record is None:
            self.rollup.forget(change.key)
        else:
            self.rollup.apply_registry(change.record)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            # commits fail (in the flush loop) when the broker is gone: restart then
            self.committer.check()
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    self.processed[tp] = record.offset + 1
                    if record.value is None:
                        continue
                    try:
                        batch = EventBatch.from_json(record.value)
                    except ValidationError as exc:
                        # The bridge validated it; a record we cannot read is skipped and
                        # counted, never allowed to stop the dashboards' series.
                        self.bad_records += 1
                        log.warning("event record at offset %s unreadable: %s",
                                    record.offset, exc.errors()[0]["msg"])
                        continue
                    for event in batch.events:
                        self.owner[event.household_id] = tp.partition
                    self.rollup.add_all(batch.events)

    async def _flush_loop(self) -> None:
        interval = self.settings.series.flush_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad flush
                log.exception("series flush failed; retrying next interval")

    def take_health(self, assigned: Collection[TopicPartition]) -> None:
        """Own the health of the devices of ``assigned``'s households from now on."""
        self.health.take(assigned, self._consumer)

    async def flush(self, handing_over: Collection[TopicPartition] = ()) -> bool:
        """Write what was counted, then commit the offsets it covers.

        Args:
            handing_over: partitions being revoked, whose offsets are written too.

        Returns:
            True if everything pending reached InfluxDB.
        """
        async with self._flush_lock:
            return await self._flush(set(handing_over))

    async def hand_over(self, revoked: Collection[TopicPartition]) -> None:
        """Write what was counted of partitions going to another writer, then forget them.

        Their offsets are written with the counts, so the next owner resumes after them and
        seeds its buckets from InfluxDB. Their households' buckets are forgotten here: kept,
        they would overwrite the next owner's counts if the partitions came back.
        """
        if not revoked:
            return
        topic = self.settings.kafka.topics.events
        leaving = {tp.partition for tp in revoked if tp.topic == topic} & self.health.owned
        if leaving and self._consumer is not None:
            # the next owner reads these back (take_health): what this writer learned of
            # their devices since its last snapshot is not lost with the partitions
            try:
                await asyncio.wait_for(
                    self.health.snapshot(only=leaving), self.policy.commit_timeout_s * 2)
            except (TimeoutError, InfluxError) as exc:
                log.warning("health of revoked partitions not written: %r", exc)
        if self._consumer is not None:
            try:
                written = await asyncio.wait_for(
                    self.flush(handing_over=revoked), self.policy.commit_timeout_s * 2)
            except (TimeoutError, InfluxError) as exc:
                written = False
                log.warning("counts of revoked partitions not written: %r", exc)
            if not written:
                # the next owner reads their records again from the offsets InfluxDB holds
                log.warning("handing over partitions with counts not yet in InfluxDB")
        gone = {tp.partition for tp in revoked}
        for tp in revoked:
            self.processed.pop(tp, None)
        households = {hh for hh, p in self.owner.items() if p in gone}
        for hh in households:
            del self.owner[hh]
        self.rollup.forget_activity(households)

    def _status(self, now: datetime, assigned: Collection[TopicPartition]) -> Point:
        """How far behind the event stream the series are, for the dashboards to show."""
        behind = 0
        consumer = self._consumer
        for tp in assigned:
            high = consumer.highwater(tp) if consumer is not None else None
            if high is not None:
                behind += max(0, high - self.processed.get(tp, high))
        return Point(
            SERIES_STATUS,
            {
                "behind_records": behind,
                "events": self.rollup.events,
                "duplicates": self.rollup.duplicates,
                "bad_records": self.bad_records + self.registry.bad_records,
                "pending_points": self.buffer.pending,
            },
            now,
            {"group": self.settings.series.group_id},
        )

    async def resume(self, assigned: Collection[TopicPartition]) -> None:
        """Seek assigned partitions past what InfluxDB already counted (see :meth:`_flush`)."""
        if self._consumer is not None and assigned:
            await seek_past_stored(self._consumer, self.client, self.settings, assigned)

    async def _flush(self, handing_over: set[TopicPartition]) -> bool:
        consumer = self._consumer
        unseeded = self.rollup.unseeded()
        if unseeded:
            try:
                existing = await asyncio.to_thread(read_counts, self.client, unseeded)
            except InfluxError as exc:
                log.warning("cannot read existing counts yet: %s", exc)
                return False
            self.rollup.seed(unseeded, existing)
        # No await from here to the drains: the offsets are exactly those of the records
        # whose counts and review events are drained, and they are written after both.
        assigned = (consumer.assignment() if consumer is not None else set()) | handing_over
        offsets = {tp: o for tp, o in self.processed.items() if tp in assigned}
        if self.rollup.unseeded():
            # Buckets seen during the seeding read wait for the next flush, and so do the
            # offsets that cover them.
            offsets = {}
        now = utcnow()
        self.buffer.add([*self.rollup.drain(), self._status(now, assigned)])
        self.review_buffer.add(self.rollup.review.drain())
        # The review's events go in a request of their own (another retention policy):
        # until they are in, the offsets that cover them are held back.
        if not await asyncio.to_thread(self.review_buffer.flush):
            log.warning("InfluxDB refused the review's events, %d kept: %s",
                        self.review_buffer.pending, self.review_buffer.last_error)
            offsets = {}
        self.buffer.add(
            Point(
                SERIES_OFFSETS,
                {"offset": offset},
                now,
                {"group": self.settings.series.group_id, "topic": tp.topic,
                 "partition": str(tp.partition)},
            )
            for tp, offset in sorted(offsets.items())
        )
        done = await asyncio.to_thread(self.buffer.flush)
        # Health snapshots are written by HealthPartitions.snapshot alone (one flush at a time: two
        # threads flushing one buffer would each drop the other's batch); they hold no
        # offsets back.
        self.flushes += 1
        if done and consumer is not None and offsets:
            # The offsets are in InfluxDB too: after a failed commit the next owner
            # resumes from there.
            await self.committer.commit(consumer, offsets)
        elif not done:
            log.warning("InfluxDB unavailable, %d points kept: %s",
                        self.buffer.pending, self.buffer.last_error)
        return done


class BackgroundWriter:
    """A :class:`SeriesWriter` on its own thread and event loop (tests, benchmarks, demos).

    Use as a context manager; leaving it stops the writer after a last flush.
    """

    def __init__(self, settings: Settings) -> None:
        self.writer = SeriesWriter(settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> BackgroundWriter:
        started = threading.Event()

        def main() -> None:
            async def run() -> None:
                self._loop = asyncio.get_running_loop()
                started.set()
                await self.writer.run()

            try:
                asyncio.run(run())
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                self.error = exc
                started.set()

        self._thread = threading.Thread(target=main, name="series-writer", daemon=True)
        self._thread.start()
        started.wait(30)
        return self

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Flush now from the caller's thread; return whether everything was written."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self.writer.flush(), self._loop)
        return future.result(timeout_s)

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.writer.stop)
        if self._thread is not None:
            self._thread.join(30)
