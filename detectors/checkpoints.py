"""The worker's checkpoint protocol: what it processed and saved, per partition.

Everything here that reaches into Faust's private API (a table written outside a stream
iteration, offsets committed by hand, keyed reads during a rebalance) is in this module, so
an upgrade of Faust is checked here. Every :data:`CHECKPOINT_RECORDS` records or
:data:`CHECKPOINT_SECONDS` seconds of a partition, its changed households and then its last
processed offsets go to the ``household-state`` table (RocksDB under the data directory,
with a changelog topic). A checkpoint first waits until Kafka has acknowledged every alert
raised before it, so no saved state ever records an alert that was not sent; a worker killed
between checkpoints replays the records after the last one and raises the same alerts
again, with the same deterministic ids. See ``docs/detectors.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.streams import _current_event, current_event

from anbu.events import AlertEvent, DeadLetter
from anbu.partitioning import partition_of
from detectors.offsets import OFFSET_PREFIX, OffsetGuard, progress_key
from detectors.outbox import Outbox
from detectors.runtime import Runtime

log = logging.getLogger(__name__)

CHECKPOINT_RECORDS = 2000
"""A partition is checkpointed after this many records ... (``detectors.checkpoint_records``)"""

CHECKPOINT_SECONDS = 1.0
"""... or this long after its last checkpoint, whichever comes first
(``detectors.checkpoint_interval``)."""


# compared and shown as an object, as before: its table is no value to compare or print
@dataclass(eq=False, repr=False)
class Checkpoints:
    """What the worker has processed and saved, per partition, and the checkpoints.

    Faust takes the changelog and RocksDB partition of a table write from the event being
    processed. A checkpoint run from the agent is inside one of the partition's records; one
    run from the timer (a partition that went quiet) makes the partition's last record the
    current event for its writes (:meth:`_in_partition`).

    Args:
        state: the ``household-state`` table.
        runtime: the engines.
        inputs: the events and SOS topic names (in that order).
        alerts: outbox of alerts; dead letters: outbox of dead letters.
        commit: commits input offsets to the consumer group (informational: the group's
            offsets then follow the checkpoints; the table's offsets are what counts).
        rebalancing: whether a rebalance is under way (the table's partitions may be
            revoked: a checkpoint then writes nothing, and its households stay marked
            changed for the next one).
        every_records: checkpoint a partition after this many records ...
        every_s: ... or this many seconds after its last checkpoint.
    """

    state: Any
    runtime: Runtime
    inputs: tuple[str, str]
    alerts: Outbox[AlertEvent]
    letters: Outbox[DeadLetter]
    commit: Callable[[dict[TopicPartition, int]], Awaitable[Any]]
    rebalancing: Callable[[], bool] = lambda: False
    every_records: int = CHECKPOINT_RECORDS
    every_s: float = CHECKPOINT_SECONDS

    def __post_init__(self) -> None:
        self.progress = OffsetGuard()
        self.saved: dict[bytes, int] = {}  # offsets written to the table
        self.loaded: set[int] = set()
        self.records: dict[int, int] = {}  # records since the partition's last checkpoint
        self.since: dict[int, float] = {}  # monotonic time of its last checkpoint
        self.last_event: dict[int, Any] = {}  # the partition's latest record (Faust event)
        self.count = 0
        self._lock = asyncio.Lock()
        self._keys: dict[int, tuple[bytes, bytes]] = {}
        self.recreated: set[bytes] = set()  # progress keys whose saved offsets are void

    def keys(self, partition: int) -> tuple[bytes, bytes]:
        """The table keys of the partition's events and SOS offsets."""
        keys = self._keys.get(partition)
        if keys is None:
            keys = self._keys[partition] = (progress_key(self.inputs[0], partition),
                                            progress_key(self.inputs[1], partition))
        return keys

    def _stored(self, key: bytes) -> int:
        if key in self.recreated:
            return -1
        stored = self.state.get(key)
        return int(stored) if stored else -1

    def note_recreated(self, highwaters: Mapping[TopicPartition, int]) -> None:
        """Ignore saved offsets of input partitions that now hold fewer records.

        The topic was recreated (the embedded broker keeps its data in memory, so every
        ``anbu up`` starts it empty): its new records begin at offset 0, and resuming after
        the saved offset would skip them all until the new ones passed it.
        """
        self.recreated = set()
        for tp, high in highwaters.items():
            if tp.topic not in self.inputs or tp.partition in self.loaded:
                continue
            key = progress_key(tp.topic, tp.partition)
            stored = self._stored(key)
            if stored >= high:
                log.warning("%s partition %d holds %d records but %d were processed: the topic "
                            "was recreated; reading it from its start", tp.topic, tp.partition,
                            high, stored + 1)
                self.recreated.add(key)

    def load(self, partition: int) -> None:
        """Restore a partition's households and offsets from the table.

        Called while one of the partition's records is processed: Faust reads a key from the
        current record's partition only.
        """
        keys = self.keys(partition)
        saved = (self._stored(keys[0]), self._stored(keys[1]))
        for key, offset in zip(keys, saved, strict=True):
            self.progress.load(key, offset if offset >= 0 else None)
            self.saved[key] = offset
        began = time.monotonic()
        self.runtime.drop(partition)
        n = self.runtime.partitions
        items = [(k, v) for k, v in self._stored_items(partition)
                 if not k.startswith(OFFSET_PREFIX)
                 and partition_of(k.decode(errors="replace"), n) == partition]
        # after a recreated topic the households' own offsets are void too: nothing is ahead
        count = self.runtime.restore(
            items, None if set(keys) & self.recreated else {partition: saved})
        self.loaded.add(partition)
        self.records[partition] = 0
        self.since[partition] = time.monotonic()
        st = self.runtime.states.get(partition)
        log.info("partition %d: restored %d households from the state table in %.2f s (saved "
                 "offsets %s; %d households saved past them)", partition, count,
                 time.monotonic() - began, saved, len(st.ahead) if st else 0)

    def _stored_items(self, partition: int) -> Iterable[tuple[bytes, bytes]]:
        """The table's items in ``partition``'s own RocksDB, or else the whole table's.

        Faust keeps one RocksDB per partition, and a table write goes to the partition of
        the record being processed (:meth:`_in_partition` for the timer's), so a
        partition's households are in its own database: reading only that one makes a
        restart that loads P partitions read the table once, not P times. Faust's public
        ``items()`` reads every assigned partition's database; it is the fallback for a
        store without per-partition databases (``memory://``) or one not open yet.
        """
        store = self.state.data
        dbs = getattr(store, "_dbs", None)
        visible = getattr(store, "_visible_items", None)
        if not isinstance(dbs, dict) or partition not in dbs or visible is None:
            return self.state.items()
        return ((store._decode_key(k), store._decode_value(v)) for k, v in visible(dbs[partition]))

    def drop(self, partition: int) -> None:
        """Forget a partition that went to another worker (unsaved work is replayed there)."""
        self.runtime.drop(partition)
        self.loaded.discard(partition)
        self.last_event.pop(partition, None)
        for key in self.keys(partition):
            self.progress.forget(key)
            self.saved.pop(key, None)

    def due(self, partition: int) -> bool:
        """Whether the partition should be checkpointed now (counts one more record)."""
        n = self.records[partition] = self.records.get(partition, 0) + 1
        return (n >= self.every_records
                or time.monotonic() - self.since.get(partition, 0.0) >= self.every_s)

    def unsaved(self, partition: int) -> bool:
        """Whether the partition has processed or changed anything since its checkpoint."""
        st = self.runtime.states.get(partition)
        if st is not None and st.engine.changed:
            return True
        return any(self.progress.offset(k) != self.saved.get(k, -1) for k in self.keys(partition))

    async def idle(self) -> None:
        """Checkpoint the partitions that have unsaved work and no recent checkpoint.

        The agent checkpoints a partition while its records flow; this catches the last
        records before a pause and the alerts the timer raised on a quiet partition.
        """
        now = time.monotonic()
        for p in sorted(self.loaded):
            if (p in self.last_event and now - self.since.get(p, 0.0) >= self.every_s
                    and self.unsaved(p)):
                await self.checkpoint(p)

    @contextmanager
    def _in_partition(self, partition: int) -> Iterator[None]:
        event = current_event()
        if event is not None and event.message.partition == partition:
            yield
            return
        # Faust offers no public way to write a table outside of its stream iteration; its
        # own context variable is set to the partition's last record, as the stream does.
        token = _current_event.set(weakref.ref(self.last_event[partition]))
        try:
            yield
        finally:
            _current_event.reset(token)

    async def hand_over(self, partitions: set[int]) -> None:
        """Checkpoint partitions that a rebalance is revoking, before they go.

        Faust's rebalances are eager: every partition is revoked before the worker rejoins
        the group, and none is given to another worker until it has. So this worker still
        owns them here, and saving them now lets the next owner resume after the last record
        processed, instead of replaying from the previous checkpoint and raising those
        records' alerts a second time.
        """
        for p in sorted(partitions & self.loaded):
            if p in self.last_event and self.unsaved(p):
                await self.checkpoint(p, handing_over=True)

    async def checkpoint(self, partition: int, handing_over: bool = False) -> None:
        """Save the partition's changed households, then its offsets.

        Args:
            partition: the partition.
            handing_over: called by :meth:`hand_over`, which may write while rebalancing.

        The snapshot (state, offsets, and the alerts not yet acknowledged) is taken in one
        synchronous step; Kafka's acknowledgement of those alerts is awaited before anything
        is written; households are written before the offsets, and each household carries
        the offsets its state includes (see ``docs/detectors.md``).
        """
        async with self._lock:
            events_key, sos_key = self.keys(partition)
            as_of = (self.progress.offset(events_key), self.progress.offset(sos_key))
            blobs = self.runtime.snapshot(partition, as_of)
            waiting = self.alerts.waiting() + self.letters.waiting()
            self.records[partition] = 0
            self.since[partition] = time.monotonic()
            await self.alerts.drained(waiting)
            if (self.rebalancing() and not handing_over) or partition not in self.loaded:
                # the partition may be another worker's by now: write nothing, save later
                self.runtime.mark_changed(partition, blobs)
                return
            state = self.state
            commit: dict[TopicPartition, int] = {}
            with self._in_partition(partition):
                for hid, blob in blobs.items():
                    state[hid.encode()] = blob
                for topic, key, offset in zip(self.inputs, (events_key, sos_key), as_of,
                                              strict=True):
                    if offset >= 0 and self.saved.get(key) != offset:
                        state[key] = str(offset).encode()
                        self.saved[key] = offset
                        commit[TopicPartition(topic, partition)] = offset + 1
            self.count += 1
        if commit:
            try:
                await self.commit(commit)
            except Exception as exc:  # a rebalance in progress: the next checkpoint commits
                log.debug("group commit after a checkpoint failed: %r", exc)

    def resume_offsets(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Where each assigned input partition must resume.

        A partition still held in memory resumes after its last processed record; any other
        after the last one saved in the table.
        """
        for p in list(self.loaded):
            if p not in {tp.partition for tp in assigned}:
                self.drop(p)
        offsets: dict[TopicPartition, int] = {}
        for tp in assigned:
            key = progress_key(tp.topic, tp.partition)
            last = (self.progress.offset(key) if tp.partition in self.loaded
                    else self._stored(key))
            if last >= 0:
                offsets[tp] = last + 1
            elif key in self.recreated:
                offsets[tp] = 0  # not the group's old offset, which points past the end
        return offsets


def group_commit(app: faust.App) -> Callable[[dict[TopicPartition, int]], Awaitable[Any]]:
    """Commit given input offsets to the worker's consumer group, after the changelog."""

    async def commit(offsets: dict[TopicPartition, int]) -> Any:
        # the table's changelog writes go out through the producer's buffer: flushed first,
        # so the group's offset is never ahead of the changelog. Otherwise a worker killed
        # right after the commit leaves a changelog behind it, and the worker that takes the
        # partition over (with no local RocksDB of it) was found to skip a record
        await app.producer.flush()
        consumer: Any = app.consumer  # Faust has no public call to commit given offsets
        return await consumer._commit(offsets)

    return commit


QUIET_AFTER_LOAD_S = 15.0
"""A partition loaded at a rebalance that has had no record this long is quiet: its clock
moves with the wall clock (a partition with a backlog delivers its first record long before)."""


def load_quiet_partitions(app: faust.App, keeper: Checkpoints) -> None:
    """Restore every assigned partition now, not at its first record.

    A partition that receives nothing after a restart (every gateway on it down at once: a
    power cut over a small pilot) would otherwise never be loaded nor ticked, and raise
    neither ``gateway_offline`` nor inactivity. Called from the rebalance signal, where no
    record is being processed, so keyed table reads search every local partition.
    """
    token = _current_event.set(None)
    try:
        for tp in app.consumer.assignment():
            if tp.topic == keeper.inputs[0] and tp.partition not in keeper.loaded:
                keeper.load(tp.partition)
                keeper.runtime.quiet_since_load(tp.partition, QUIET_AFTER_LOAD_S)
    finally:
        _current_event.reset(token)


async def resume_from_saved_offsets(app: faust.App, keeper: Checkpoints) -> None:
    """Commit, for each assigned input partition, the offset where it must resume.

    So that Faust's seek to the committed offsets (which follows the
    ``on_rebalance_complete`` signal, before the streams resume) starts there: after the
    last record processed for a partition this worker keeps in memory, else after the last
    one saved in the recovered state table. Faust 0.15 alone was found to resume past
    records that a SIGKILLed worker had fetched but not processed: the group's committed
    offset was ahead of the saved state. The state table (RocksDB and its changelog) is the
    record of what was processed, so the position is taken from it, and Faust's own offset
    commits are off for the inputs.
    """
    assigned = [tp for tp in app.consumer.assignment() if tp.topic in keeper.inputs]
    try:
        highwaters = await app.consumer.highwaters(*assigned)
    except Exception as exc:  # Kafka busy: keep the saved offsets as they are
        log.warning("could not read the input partitions' end offsets: %r", exc)
        highwaters = {}
    keeper.note_recreated(highwaters)
    offsets = keeper.resume_offsets(assigned)
    if offsets:
        log.info("resuming from the offsets %s", ", ".join(
            f"{tp.topic}:{tp.partition}@{o}" for tp, o in sorted(offsets.items())))
        if not await keeper.commit(offsets):
            log.warning("could not commit the saved offsets (the group is rebalancing again)")
    await seek_unread(app, assigned, offsets)


async def seek_unread(app: faust.App, assigned: list[TopicPartition],
                      offsets: dict[TopicPartition, int]) -> None:
    """Move every assigned input partition to the first record not processed yet.

    Faust drops records it has fetched when a rebalance begins (the flow stops, or the
    generation changes mid-fetch), and its seek back to the committed offsets passes over
    partitions whose committed offset is none or 0 (aiokafka's ``seek_to_committed`` seeks
    only to offsets above 0). An ``anbu.sos`` partition seldom has a record processed, so
    it has none: an SOS fetched in that window was passed over for good (found by
    tests/test_scale_workers.py: the SOS of a partition taken over from a SIGKILLed worker
    never became an alert). So each partition is sought here, on every rebalance: to
    ``offsets`` (after the last record processed), or to the oldest record Kafka holds.
    """
    unread = [tp for tp in assigned if tp not in offsets]
    earliest: dict[Any, int] = {}
    if unread:
        try:
            earliest = dict(await app.consumer.earliest_offsets(*unread))
        except Exception as exc:  # Kafka busy: "earliest" stays the consumer's reset policy
            log.warning("could not read the input partitions' oldest offsets: %r", exc)
    for tp in assigned:
        target = offsets.get(tp, earliest.get(tp))
        if target is None:
            continue
        try:
            await app.consumer.seek(tp, target)
        except Exception as exc:  # no longer assigned: the next rebalance seeks again
            log.warning("could not seek %s:%d to %d: %r", tp.topic, tp.partition, target, exc)
