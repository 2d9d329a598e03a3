"""``anbu worker``: the Faust app around the detector core.

Topics and tables are declared in :func:`build_app`. Agents are thin: parse, hand to the
:class:`~detectors.runtime.Runtime`, send the alerts. Household state lives in memory (the
runtime's engines) and is saved at checkpoints (:class:`Checkpoints`): every
:data:`CHECKPOINT_RECORDS` records or :data:`CHECKPOINT_SECONDS` seconds of a partition,
its changed households and then its last processed offsets go to the ``household-state``
table (RocksDB under the data directory, with a changelog topic). A checkpoint first waits
until Kafka has acknowledged every alert raised before it, so no saved state ever records
an alert that was not sent; a worker killed between checkpoints replays the records after
the last one and raises the same alerts again, with the same deterministic ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.streams import _current_event, current_event
from pydantic import ValidationError

from anbu.events import AlertEvent, DeadLetter, DeviceEvent, EventBatch, SosEvent
from anbu.health import kafka_heartbeat
from anbu.kafka_topics import ensure_topics
from anbu.registry_reader import RegistryReader
from anbu.timeutil import utcnow
from config import Settings
from detectors.exceptions import EventTimeAheadError
from detectors.fastparse import fast_events
from detectors.offsets import OFFSET_PREFIX, OffsetGuard, Verdict, progress_key
from detectors.outage import CHECK_EVERY_S, KafkaOutage
from detectors.outbox import Outbox
from detectors.params import DetectorParams
from detectors.runtime import Runtime, max_ahead_s, partition_of

log = logging.getLogger(__name__)


def parse_event(raw: bytes) -> EventBatch | DeviceEvent:
    """An ``anbu.events`` record: an :class:`EventBatch` or a single :class:`DeviceEvent`."""
    if b'"type":"batch"' in raw or b'"type": "batch"' in raw:
        return EventBatch.model_validate_json(raw)
    return DeviceEvent.model_validate_json(raw)


FETCH_BYTES = 8 * 1024 * 1024
"""Most bytes fetched from one input partition at a time (also the benchmark's raw consumer)."""

CHECKPOINT_RECORDS = 2000
"""A partition is checkpointed after this many records ... (``detectors.checkpoint_records``)"""

CHECKPOINT_SECONDS = 1.0
"""... or this long after its last checkpoint, whichever comes first
(``detectors.checkpoint_interval``)."""


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

    def __init__(
        self,
        state: Any,
        runtime: Runtime,
        inputs: tuple[str, str],
        alerts: Outbox[AlertEvent],
        letters: Outbox[DeadLetter],
        commit: Callable[[dict[TopicPartition, int]], Awaitable[Any]],
        rebalancing: Callable[[], bool] = lambda: False,
        every_records: int = CHECKPOINT_RECORDS,
        every_s: float = CHECKPOINT_SECONDS,
    ) -> None:
        self.state = state
        self.every_records = every_records
        self.every_s = every_s
        self.rebalancing = rebalancing
        self.runtime = runtime
        self.inputs = inputs
        self.alerts = alerts
        self.letters = letters
        self.commit = commit
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
        self.runtime.drop(partition)
        n = self.runtime.partitions
        items = [(k, v) for k, v in self.state.items()
                 if not k.startswith(OFFSET_PREFIX)
                 and partition_of(k.decode(errors="replace"), n) == partition]
        # after a recreated topic the households' own offsets are void too: nothing is ahead
        count = self.runtime.restore(
            items, None if set(keys) & self.recreated else {partition: saved})
        self.loaded.add(partition)
        self.records[partition] = 0
        self.since[partition] = time.monotonic()
        st = self.runtime.states.get(partition)
        log.info("partition %d: restored %d households from the state table (saved offsets "
                 "%s; %d households saved past them)", partition, count, saved,
                 len(st.ahead) if st else 0)

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


def build_app(settings: Settings) -> tuple[faust.App, Runtime]:
    """The Faust app, its topics, table, agents and timer, over a fresh runtime."""
    det = settings.detectors
    topics = settings.kafka.topics
    # one RocksDB directory per process: the second and later workers of `anbu up` have their own
    instance = settings.stack.instance
    datadir = settings.data_dir / ("detectors" if instance == 1 else f"detectors-{instance}")
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        det.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers],
        store=det.store,
        datadir=str(datadir),
        topic_partitions=topics.partitions,
        broker_session_timeout=det.broker_session_timeout,
        broker_heartbeat_interval=det.broker_heartbeat_interval,
        broker_rebalance_timeout=det.broker_rebalance_timeout,
        # a killed worker's local RocksDB can hold writes its changelog lacks; the local
        # state is the newer one, and the offsets in it (detectors/offsets.py) say where to go on
        recovery_consistency_check=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.005,  # batch the changelog and alert sends a little
        # per partition and fetch: Faust's 1 MiB default (about 80 of the bridge's batches)
        # left the agent waiting on fetches; 8 MiB doubled the benchmark's events/s
        consumer_max_fetch_size=FETCH_BYTES,
        web_port=det.web_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        autodiscover=False,
        topic_allow_declare=True,
    )
    runtime = Runtime(DetectorParams.from_settings(det), topics.partitions,
                      max_ahead_s=max_ahead_s(settings))
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    # acks=False: Faust never commits the input offsets itself (see resume_from_state)
    events_topic = app.topic(topics.events, partitions=topics.partitions, acks=False, **raw)
    sos_topic = app.topic(topics.sos, partitions=topics.partitions, acks=False, **raw)
    alerts_topic = app.topic(topics.alerts, partitions=topics.partitions, **raw)
    deadletter_topic = app.topic(topics.deadletter, **raw)
    state = app.Table(
        "household-state",
        partitions=topics.partitions,
        default=None,
        key_type=bytes,  # bytes: Faust's "raw" codec, so the state is our own pickle
        value_type=bytes,
    )
    registry = RegistryReader(
        settings, lambda change: runtime.apply_registry(change.key, change.record),
        client_id=f"{det.app_id}-registry",
    )
    registry_ready = registry.loaded

    def send_alert(alert: AlertEvent) -> Awaitable[Awaitable[Any]]:
        return alerts_topic.send(key=alert.household_id.encode(), value=alert.to_json())

    def send_letter(letter: DeadLetter) -> Awaitable[Awaitable[Any]]:
        return deadletter_topic.send(value=letter.to_json())

    alerts = Outbox(send_alert, lambda a: f"alert {a.alert_id}/{a.action.value}")
    letters = Outbox(send_letter, lambda d: f"dead letter ({d.detail[:80]})")
    inputs = (events_topic.get_topic_name(), sos_topic.get_topic_name())

    async def commit(offsets: dict[TopicPartition, int]) -> Any:
        # the table's changelog writes go out through the producer's buffer: flushed first,
        # so the group's offset is never ahead of the changelog. Otherwise a worker killed
        # right after the commit leaves a changelog behind it, and the worker that takes the
        # partition over (with no local RocksDB of it) was found to skip a record
        await app.producer.flush()
        consumer: Any = app.consumer  # Faust has no public call to commit given offsets
        return await consumer._commit(offsets)

    keeper = Checkpoints(state, runtime, inputs, alerts, letters, commit,
                         rebalancing=lambda: bool(app.rebalancing),
                         every_records=det.checkpoint_records,
                         every_s=det.checkpoint_interval.total_seconds())
    progress = keeper.progress

    def letter_for(value: bytes, message: Any, exc: Exception) -> DeadLetter:
        ahead = isinstance(exc, EventTimeAheadError)
        log.warning("%s record on %s partition %d: %s", "refused" if ahead else "invalid",
                    message.topic, message.partition, str(exc)[:300])
        return DeadLetter(
            reason="event_time_ahead" if ahead else "invalid_event",
            detail=(f"detector worker refused the record: {exc}" if ahead else
                    f"detector worker could not parse the record: {str(exc)[:500]}"),
            topic=f"kafka:{message.topic}",
            payload=value.decode("utf-8", errors="replace"),
            receive_time=utcnow(),
        )

    async def handle(event: Any, sos: bool) -> None:
        if not registry_ready.is_set():
            await registry_ready.wait()
        message = event.message
        partition = message.partition
        offset = message.offset
        if partition not in keeper.loaded:
            keeper.load(partition)
        key = keeper.keys(partition)[sos]
        verdict = progress.check(key, offset)
        if verdict is Verdict.SKIP:
            return
        if verdict is Verdict.GAP:
            log.error("records %s:%d from offset %d to %d were never handed to the worker "
                      "(or their effect on the state was lost when it was killed)",
                      message.topic, partition, progress.expected(key), offset - 1)
        value: bytes = event.value
        raised: list[AlertEvent] = []
        letter: DeadLetter | None = None
        fast = None if sos else fast_events(value)
        try:
            if fast is not None:
                raised = runtime.apply_events(partition, fast, offset)
            else:
                record = SosEvent.model_validate_json(value) if sos else parse_event(value)
                raised = runtime.apply(partition, record, offset, message.timestamp)
        except (ValidationError, ValueError, EventTimeAheadError) as exc:
            letter = letter_for(value, message, exc)
        except Exception:  # one bad household must not stop the worker
            log.exception("detector failed on a record of partition %d", partition)
        # in the same synchronous step as the state change, so a checkpoint sees both
        progress.done(key, offset)
        keeper.last_event[partition] = event
        if raised:
            await alerts.publish(raised)
        if letter is not None:
            await letters.publish([letter])
        if keeper.due(partition):
            await keeper.checkpoint(partition)

    @app.on_rebalance_complete.connect
    async def resume_from_state(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        await resume_from_saved_offsets(app, keeper)
        load_quiet_partitions(app, keeper)

    @app.on_partitions_revoked.connect
    async def save_before_handover(sender: Any, /, *args: Any, signal: Any, **__: Any) -> None:
        revoked = args[0]  # mode's signals pass the sent value after the sender
        # Faust has drained the agents by now; the changelog writes must reach Kafka before
        # this worker rejoins, when another may recover the partitions from the changelog
        await keeper.hand_over({tp.partition for tp in revoked if tp.topic in inputs})
        await app.producer.flush()

    @app.agent(events_topic, name="detect")
    async def detect(stream: Any) -> None:
        async for event in stream.events():
            await handle(event, False)

    @app.agent(sos_topic, name="raise-sos")
    async def raise_sos(stream: Any) -> None:
        async for event in stream.events():
            await handle(event, True)

    outage = KafkaOutage(runtime, settings.kafka.bootstrap_servers)

    @app.timer(det.tick_interval.total_seconds())
    async def tick() -> None:
        # not while rebalancing: a partition being handed over is saved as it is, and an
        # alert its deadline raised now would be raised again by the next owner
        if not registry_ready.is_set() or app.rebalancing or not outage.clock_may_move():
            return
        raised = runtime.tick()
        if raised:
            await alerts.publish(raised)
        await keeper.idle()

    @app.timer(CHECK_EVERY_S)
    async def watch_kafka() -> None:
        await outage.check()

    @app.task
    async def follow_registry() -> None:
        await registry.run()

    app.conf.detectors_runtime = runtime  # for tests and benchmarks in the same process
    _ = (detect, raise_sos, tick, watch_kafka, follow_registry)
    return app, runtime


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
    if not offsets:
        return  # nothing processed yet: the committed offsets (or "earliest") are right
    log.info("resuming from the offsets %s",
             ", ".join(f"{tp.topic}:{tp.partition}@{o}" for tp, o in sorted(offsets.items())))
    if not await keeper.commit(offsets):
        log.warning("could not commit the saved offsets (the group is rebalancing again)")


def run_worker(settings: Settings) -> None:
    """Create the topics if needed and run the worker until stopped.

    A worker restarted at once after a SIGKILL joins while its dead predecessor is still a
    group member, so the group rebalances twice; each time it resumes from the offsets
    saved in its state table (:func:`resume_from_saved_offsets`), so nothing is skipped.
    """
    ensure_topics(settings)
    det = settings.detectors
    app, _ = build_app(settings)
    worker = faust.Worker(app, loglevel=logging.getLogger().level or "WARNING", quiet=True,
                          redirect_stdouts=False, override_logging=False)
    started = time.monotonic()
    log.info("detector worker %s starting", det.app_id)
    heartbeat = kafka_heartbeat(settings, "worker")
    try:
        worker.execute_from_commandline()
    finally:
        heartbeat.stop()
        log.info("detector worker stopped after %.0f s", time.monotonic() - started)
