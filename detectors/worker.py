"""``anbu worker``: the Faust app around the detector core.

Topics and tables are declared in :func:`build_app`; agents are thin: parse, hand to the
:class:`~detectors.runtime.Runtime`, send the alerts (waiting for Kafka's ack), then persist
the changed households in the ``household-state`` table (RocksDB under the data directory,
with a changelog topic). Alerts go out before the state that records them, so a worker
killed in between raises the alert again after restart, with the same deterministic id,
rather than never.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from anbu.events import AlertEvent, DeadLetter, DeviceEvent, EventBatch, SosEvent
from anbu.kafka_topics import ensure_topics
from anbu.registry_records import parse_registry_record
from anbu.timeutil import utcnow
from config import Settings
from detectors.fastparse import fast_events
from detectors.offsets import OFFSET_PREFIX, OffsetGuard, Verdict, progress_key
from detectors.params import DetectorParams
from detectors.runtime import Runtime

log = logging.getLogger(__name__)


def parse_event(raw: bytes) -> EventBatch | DeviceEvent:
    """An ``anbu.events`` record: an :class:`EventBatch` or a single :class:`DeviceEvent`."""
    if b'"type":"batch"' in raw or b'"type": "batch"' in raw:
        return EventBatch.model_validate_json(raw)
    return DeviceEvent.model_validate_json(raw)


def build_app(settings: Settings) -> tuple[faust.App, Runtime]:
    """The Faust app, its topics, table, agents and timer, over a fresh runtime."""
    det = settings.detectors
    topics = settings.kafka.topics
    datadir = settings.data_dir / "detectors"
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
        web_port=det.web_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        autodiscover=False,
        topic_allow_declare=True,
    )
    runtime = Runtime(DetectorParams.from_settings(det), topics.partitions)
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
    registry_ready = asyncio.Event()
    restored = {"done": False}

    async def publish(alerts: list[AlertEvent]) -> None:
        for alert in alerts:
            future = await alerts_topic.send(key=alert.household_id.encode(), value=alert.to_json())
            await future  # acked by Kafka before the state that records it is written

    async def dead_letter(value: bytes, partition: int, exc: Exception) -> None:
        log.warning("invalid record on partition %d: %s", partition, str(exc)[:300])
        letter = DeadLetter(
            reason="invalid_event",
            detail=f"detector worker could not parse the record: {str(exc)[:500]}",
            topic=f"kafka:{events_topic.get_topic_name()}",
            payload=value.decode("utf-8", errors="replace"),
            receive_time=utcnow(),
        )
        await deadletter_topic.send(value=letter.to_json())

    progress = OffsetGuard()

    async def handle(event: Any, parse: Any) -> None:
        await registry_ready.wait()
        if not restored["done"]:
            count = runtime.restore(
                (k, v) for k, v in state.items() if not k.startswith(OFFSET_PREFIX)
            )
            restored["done"] = True
            log.info("restored %d households from the state table", count)
        message = event.message
        partition = message.partition
        key = progress_key(message.topic, partition)
        if not progress.known(key):
            stored = state.get(key)
            progress.load(key, int(stored) if stored else None)
        verdict = progress.check(key, message.offset)
        if verdict is Verdict.SKIP:
            return
        if verdict is Verdict.GAP:
            log.error("records %s:%d from offset %d to %d were never handed to the worker "
                      "(or their effect on the state was lost when it was killed)",
                      message.topic, partition, progress.expected(key), message.offset - 1)
        value: bytes = event.value
        fast = fast_events(value) if parse is parse_event else None
        record: Any = None
        if fast is None:
            try:
                record = parse(value)
            except (ValidationError, ValueError) as exc:
                await dead_letter(value, partition, exc)
        if fast is not None or record is not None:
            try:
                if fast is not None:
                    alerts, dirty = runtime.apply_events(partition, fast)
                else:
                    alerts, dirty = runtime.apply(partition, record)
            except Exception:  # one bad household must not stop the worker
                log.exception("detector failed on a record of partition %d", partition)
                alerts, dirty = [], {}
            await publish(alerts)
            for hid, blob in dirty.items():
                state[hid.encode()] = blob
        progress.done(key, message.offset)
        state[key] = str(message.offset).encode()

    inputs = {events_topic.get_topic_name(), sos_topic.get_topic_name()}

    @app.on_rebalance_complete.connect
    async def resume_from_state(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        await resume_from_saved_offsets(app, state, inputs)
        progress.last.clear()  # partitions may have moved: reload from the recovered table

    @app.agent(events_topic, name="detect")
    async def detect(stream: Any) -> None:
        async for event in stream.events():
            await handle(event, parse_event)

    @app.agent(sos_topic, name="raise-sos")
    async def raise_sos(stream: Any) -> None:
        async for event in stream.events():
            await handle(event, SosEvent.model_validate_json)

    @app.timer(det.tick_interval.total_seconds())
    async def tick() -> None:
        if not registry_ready.is_set() or not restored["done"]:
            return
        await publish(runtime.tick())

    @app.task
    async def follow_registry() -> None:
        await _follow_registry(settings, runtime, registry_ready)

    app.conf.detectors_runtime = runtime  # for tests and benchmarks in the same process
    _ = (detect, raise_sos, tick, follow_registry)
    return app, runtime


async def resume_from_saved_offsets(app: faust.App, state: Any, inputs: set[str]) -> None:
    """Commit the offsets after those the recovered state table records as processed.

    For each assigned input partition, so that Faust's seek to the committed offsets (which
    follows the ``on_rebalance_complete`` signal, before the streams resume) starts there.
    Faust 0.15 alone was found to resume past records that a SIGKILLed worker had fetched
    but not processed: the group's committed offset was ahead of the saved state. The
    state table (RocksDB and its changelog) is the record of what was processed, so the
    position is taken from it, and Faust's own offset commits are off for the inputs.
    """
    offsets = {}
    for tp in app.consumer.assignment():
        if tp.topic not in inputs:
            continue
        stored = state.get(progress_key(tp.topic, tp.partition))
        if stored is not None:
            offsets[tp] = int(stored) + 1
    if not offsets:
        return  # nothing processed yet: the committed offsets (or "earliest") are right
    log.info("resuming from the saved offsets %s",
             ", ".join(f"{tp.topic}:{tp.partition}@{o}" for tp, o in sorted(offsets.items())))
    consumer: Any = app.consumer  # Faust has no public call to commit given offsets
    if not await consumer._commit(offsets):
        log.warning("could not commit the saved offsets (the group is rebalancing again)")


async def _follow_registry(settings: Settings, runtime: Runtime, ready: asyncio.Event) -> None:
    """Read the compacted registry topic from the start, then keep following it."""
    topic = settings.kafka.topics.registry
    while True:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            client_id=f"{settings.detectors.app_id}-registry",
            enable_auto_commit=False,
            group_id=None,
        )
        try:
            await consumer.start()
            parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps) if tps else {}
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for msg in records:
                        _apply_registry_message(runtime, msg.key, msg.value)
                if not ready.is_set() and await _caught_up(consumer, tps, ends):
                    log.info("registry loaded: %d records", len(runtime.registry))
                    ready.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Kafka away: keep what we know, retry
            log.warning("registry topic %s unreadable: %r", topic, exc)
            await asyncio.sleep(1.0)
        finally:
            await consumer.stop()


async def _caught_up(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], ends: dict[TopicPartition, int]
) -> bool:
    for tp in tps:
        if await consumer.position(tp) < ends.get(tp, 0):
            return False
    return True


def _apply_registry_message(runtime: Runtime, key: bytes | None, value: bytes | None) -> None:
    name = key.decode(errors="replace") if key else ""
    if value is None:
        runtime.apply_registry(name, None)
        return
    try:
        record = parse_registry_record(value)
    except ValidationError as exc:
        log.warning("registry record %s refused: %s", name, str(exc)[:300])
        return
    runtime.apply_registry(name or f"{record.type}:?", record)


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
    try:
        worker.execute_from_commandline()
    finally:
        log.info("detector worker stopped after %.0f s", time.monotonic() - started)
