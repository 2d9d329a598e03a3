"""Device health by partition: which devices a series writer snapshots, and the snapshots.

Each writer snapshots only the devices of the households whose ``anbu.events`` partitions it
owns (it knows every registered device from the registry, and a household's partition from
its key), tagged with the partition. A writer losing partitions writes their devices'
health before it lets them go; one gaining partitions reads back the newest health written
for them and snapshots them at once. Split from :mod:`timeseries.writer`, which drives it
from its rebalances.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, TopicPartition

from anbu.influx import BufferedWriter, InfluxClient, InfluxError
from anbu.partitioning import partition_of
from anbu.registry_reader import RegistryReader
from anbu.timeutil import utcnow
from config import Settings
from timeseries.rollup import DeviceHealth, SeriesRollup
from timeseries.schema import DEVICE_HEALTH, HEALTH_RP
from timeseries.stored import read_health

log = logging.getLogger(__name__)


class PolicyClient(InfluxClient):
    """Writes into the ``health`` retention policy (device health is kept a short time)."""

    policy = HEALTH_RP

    def write_lines(self, lines: Iterable[str], *, retention_policy: str | None = None) -> None:
        """Write line protocol into :attr:`policy`."""
        super().write_lines(lines, retention_policy=retention_policy or self.policy)


class HealthPartitions:
    """The partitions whose devices' health one series writer snapshots.

    Args:
        settings: the loaded settings.
        client: where the health a previous owner wrote is read back from.
        rollup: the writer's rollup, which follows every device's health.
    """

    def __init__(self, settings: Settings, client: InfluxClient, rollup: SeriesRollup) -> None:
        self.settings = settings
        self.client = client
        self.rollup = rollup
        self.buffer = BufferedWriter(
            PolicyClient.from_settings(settings), settings.influx.retry_buffer_points
        )
        # the partitions whose devices this writer snapshots, those whose previous owner's
        # health is still to be read back, and the topic's partition count
        self.owned: set[int] = set()
        self._unseeded: set[int] = set()
        self._partition_count = settings.kafka.topics.partitions
        self._snapshot_now = asyncio.Event()
        self._lock = asyncio.Lock()

    def partition_of(self, household_id: str) -> int:
        """The ``anbu.events`` partition of ``household_id``."""
        return partition_of(household_id, self._partition_count)

    async def run(self, registry: RegistryReader) -> None:
        """Snapshot every interval, and at once when partitions were taken over."""
        interval = self.settings.series.health_snapshot_interval.total_seconds()
        # The first snapshot names every device the registry knows.
        await registry.wait_loaded(interval)
        while True:
            try:
                await self.snapshot()
            except Exception:  # noqa: BLE001 - the loop must outlive one failed snapshot
                log.exception("device health snapshot failed; retrying next interval")
            # partitions taken over are snapshotted at once, not an interval later
            with suppress(TimeoutError):
                await asyncio.wait_for(self._snapshot_now.wait(), interval)
            self._snapshot_now.clear()

    def take(
        self, assigned: Collection[TopicPartition], consumer: AIOKafkaConsumer | None
    ) -> None:
        """Own the health of the devices of ``assigned``'s households from now on.

        Partitions kept through the rebalance keep their state (no one else had them: the
        group's rebalances are eager); new ones are read back from InfluxDB before their
        devices are snapshotted, at once (:meth:`snapshot`).
        """
        topic = self.settings.kafka.topics.events
        now_owned = {tp.partition for tp in assigned if tp.topic == topic}
        known = consumer.partitions_for_topic(topic) if consumer is not None else None
        if known:
            self._partition_count = len(known)
        self.let_go(self.owned - now_owned)
        new = now_owned - self.owned
        self.owned = now_owned
        self._unseeded |= new
        if new:
            self._snapshot_now.set()

    def let_go(self, gone: set[int]) -> None:
        """Forget the devices of the ``gone`` partitions (another writer owns them now)."""
        if not gone:
            return
        self.owned -= gone
        self._unseeded -= gone

        def theirs(health: DeviceHealth) -> bool:
            return self.partition_of(health.household_id) in gone

        self.rollup.forget_health(theirs)

    async def snapshot(self, only: Collection[int] | None = None) -> int:
        """Write the health of the devices of the partitions owned (or of ``only`` of them).

        Partitions just taken over are first read back from what their previous owner
        wrote; those that cannot be read yet are left out (rather than shown as never
        reported) and tried again next time.

        Returns:
            How many devices were written.
        """
        async with self._lock:
            if self._unseeded and only is None:
                wanted = set(self._unseeded)
                try:
                    stored = await asyncio.to_thread(
                        read_health, self.client, wanted, self.settings.series.health_retention)
                except InfluxError as exc:
                    log.warning("cannot read the health of partitions taken over yet: %s", exc)
                else:
                    # a rebalance during the read may have taken some away again
                    wanted &= self._unseeded
                    self.rollup.seed_health(
                        h for h in stored if self.partition_of(h.household_id) in wanted)
                    self._unseeded -= wanted
            ready = (set(only) if only is not None else self.owned) - self._unseeded
            if not ready:
                return 0
            points = self.rollup.health_snapshot(utcnow(), self.partition_of, ready)
            devices = sum(1 for p in points if p.measurement == DEVICE_HEALTH)
            self.buffer.add(points)
            written = await asyncio.to_thread(self.buffer.flush)
            log.info("device health of partitions [%s]: %d devices%s",
                     ",".join(map(str, sorted(ready))), devices,
                     "" if written else " (InfluxDB unavailable, kept)")
            return devices
