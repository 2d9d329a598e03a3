"""``anbu worker``: the Faust app around the detector core.

Topics and tables are declared in :func:`build_app`. Agents are thin: read the record and
hand it to the :class:`~detectors.runtime.Runtime` (:mod:`detectors.records`: only a record
that cannot be read is dead-lettered), send the alerts. Household state lives in memory (the
runtime's engines) and is saved at checkpoints (:mod:`detectors.checkpoints`, which holds
everything that reaches into Faust's private API).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Awaitable
from typing import Any

import faust
from aiokafka import TopicPartition

from anbu.events import AlertEvent, DeadLetter
from anbu.health import kafka_heartbeat
from anbu.kafka_topics import ensure_topics
from anbu.registry_reader import RegistryReader
from config import Settings
from detectors.ahead import max_ahead_s
from detectors.checkpoints import (
    Checkpoints,
    group_commit,
    load_quiet_partitions,
    resume_from_saved_offsets,
)
from detectors.offsets import Verdict, progress_key
from detectors.outage import CHECK_EVERY_S, KafkaOutage
from detectors.outbox import Outbox
from detectors.params import DetectorParams
from detectors.records import Applied, Parsed, RecordCounts, take
from detectors.rewind import Rewinder
from detectors.runtime import Runtime

log = logging.getLogger(__name__)

EXIT_STUCK = 3
"""The worker's exit code when records it was not handed could not be read again."""


FETCH_BYTES = 8 * 1024 * 1024
"""Most bytes fetched from one input partition at a time (also the benchmark's raw consumer)."""

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
        table_standby_replicas=det.standby_replicas,
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

    commit = group_commit(app)
    counts = RecordCounts()
    keeper = Checkpoints(state, runtime, inputs, alerts, letters, commit,
                         rebalancing=lambda: bool(app.rebalancing),
                         every_records=det.checkpoint_records,
                         every_s=det.checkpoint_interval.total_seconds())
    progress = keeper.progress

    async def earliest(tp: TopicPartition) -> int | None:
        offsets = await app.consumer.earliest_offsets(tp)
        return next(iter(offsets.values()), None)

    rewinder = Rewinder(earliest)

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
        if verdict is Verdict.GAP and await rewinder.on_gap(
                TopicPartition(message.topic, partition), progress.expected(key), offset):
            return  # set aside: it comes again once the rebalance has sought back
        value: bytes = event.value

        def apply(record: Parsed) -> Applied:
            if isinstance(record, list):  # the fast path's events: those too far ahead alone
                return runtime.apply_within(partition, record, offset, value, message.topic)
            return runtime.apply(partition, record, offset, message.timestamp), None

        # read, then apply: only a record that cannot be read is dead-lettered (as from
        # the topic it came from); the core failing on a valid one is a bug, logged, counted
        outcome = take(value, sos, message.topic, partition, apply, counts)
        raised, letter = outcome.alerts, outcome.letter
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
        await resume_from_saved_offsets(app, keeper)  # seeks every partition back
        rewinder.rebalanced()
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
        stuck = rewinder.stuck(lambda tp: progress.expected(progress_key(tp.topic,
                                                                         tp.partition)))
        if stuck:
            # records passed over that no rebalance brought back: a restart resumes from
            # the state table and reads them again (the supervisor sees a non-zero exit)
            log.error("records passed over on %s were not read again within %.0f s: the "
                      "worker stops (exit code %d) so that its restart reads them",
                      ", ".join(f"{tp.topic}:{tp.partition}" for tp in stuck),
                      rewinder.stuck_after_s, EXIT_STUCK)
            app.conf.detectors_exit_code = EXIT_STUCK
            os.kill(os.getpid(), signal.SIGTERM)  # Faust's own clean stop (hand-over)

    @app.timer(CHECK_EVERY_S)
    async def watch_kafka() -> None:
        await outage.check()

    @app.task
    async def follow_registry() -> None:
        await registry.run()

    app.conf.detectors_runtime = runtime  # for tests and benchmarks in the same process
    app.conf.detectors_counts = counts  # for the heartbeat
    _ = (detect, raise_sos, tick, watch_kafka, follow_registry)
    return app, runtime


def run_worker(settings: Settings) -> None:
    """Create the topics if needed and run the worker until stopped.

    A worker restarted at once after a SIGKILL joins while its dead predecessor is still a
    group member, so the group rebalances twice; each time it resumes from the offsets
    saved in its state table (:func:`resume_from_saved_offsets`), so nothing is skipped.
    """
    ensure_topics(settings)
    det = settings.detectors
    app, _ = build_app(settings)
    counts: RecordCounts = app.conf.detectors_counts
    worker = faust.Worker(app, loglevel=logging.getLogger().level or "WARNING", quiet=True,
                          redirect_stdouts=False, override_logging=False)
    started = time.monotonic()
    log.info("detector worker %s starting", det.app_id)
    heartbeat = kafka_heartbeat(settings, "worker", counts.report)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = getattr(app.conf, "detectors_exit_code", 0)
        raise SystemExit(code or exc.code) from None
    finally:
        heartbeat.stop()
        log.info("detector worker stopped after %.0f s", time.monotonic() - started)
    code = getattr(app.conf, "detectors_exit_code", 0)
    if code:
        raise SystemExit(code)
