"""``anbu bench scale``: detector workers in one consumer group, one against several.

Numbers measured in one run on one private Apache Kafka broker; nothing here asserts a
target. For each number of workers the same backlog is written to fresh topics and the
workers are started together; their time runs from the first marker alert to the last, as
their producers stamped them (so it includes the group's start-up rebalance, as a real
start would). Then two workers share a settled group, each partition's household state is
filled (one event for each of ``households`` households, after both joined, so the
survivor's own RocksDB does not hold it), one is SIGKILLed, and the survivor's time to
restore the dead one's partitions is read off its log: with and without standby replicas
(``detectors.standby_replicas``), which keep a copy of another worker's partitions.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.detectors import kafka_broker, produce_backlog, start_worker, timed_workers
from config import Settings

RESTORED = re.compile(r"partition (\d+): restored")
HOUSEHOLDS_RESTORED = re.compile(r"partition \d+: restored (\d+) households")
LOAD_SECONDS = re.compile(r"partition \d+: restored \d+ households from the state table in "
                          r"([\d.]+) s")


def _settings(port: int, data_dir: Path) -> Settings:
    from anbu.stack.services import free_port
    from config import load_settings

    suffix = uuid.uuid4().hex[:8]
    return load_settings(None, {
        "kafka.bootstrap_servers": f"127.0.0.1:{port}",
        "stack.data_dir": str(data_dir),
        "detectors.web_port": free_port(),
        "detectors.app_id": f"anbu-bench-scale-{suffix}",
        **{f"kafka.topics.{name}": f"anbu.{name}.{suffix}"
           for name in ("events", "sos", "alerts", "deadletter", "registry")},
    })


def throughput(port: int, tmp: Path, events: int, batch: int, copies: int) -> dict[str, Any]:
    """Events per second of ``copies`` workers over one backlog of ``events``.

    Args:
        port: the broker's.
        tmp: a new directory for this run's state and logs.
        events: the backlog's size.
        batch: events per record.
        copies: how many workers share the group.
    """
    from anbu.kafka_topics import ensure_topics

    settings = _settings(port, tmp / "var")
    ensure_topics(settings)
    total, _, markers = produce_backlog(settings, events, batch)
    seconds = timed_workers(settings, tmp, markers, copies)
    return {"workers": copies, "events": total,
            "seconds": round(seconds, 2) if seconds else None,
            "events_per_s": round(total / seconds) if seconds else None}


def _restored(log: Path) -> list[int]:
    return [int(m) for m in RESTORED.findall(log.read_text())] if log.exists() else []


def _fill_state(settings: Settings, households: int) -> None:
    """One motion event for each of ``households`` new households, a record each."""
    from kafka import KafkaProducer

    from anbu.events import DeviceEvent, EventBatch, EventKind, SourceFormat

    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             acks="all", linger_ms=5, batch_size=256 * 1024)
    for i in range(households):
        hh = f"state-{i:07d}"
        event = DeviceEvent(household_id=hh, device_id="m", kind=EventKind.MOTION, value=1,
                            event_time=moment, receive_time=moment,
                            source_format=SourceFormat.SIMULATOR, idempotency_key=f"{hh}-0")
        producer.send(settings.kafka.topics.events, key=hh.encode(),
                      value=EventBatch(household_id=hh, events=[event]).to_json())
    producer.flush()
    producer.close()


def _caught_up(settings: Settings) -> bool:
    """Whether the workers' group has committed every record of ``anbu.events``."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.kafka.topics.events
    parts = [TopicPartition(topic, p) for p in range(settings.kafka.topics.partitions)]
    # in the workers' group only to read its offsets: it never subscribes, so never joins
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             group_id=settings.detectors.app_id, enable_auto_commit=False)
    try:
        ends = consumer.end_offsets(parts)
        return all((consumer.committed(tp) or 0) >= ends[tp] for tp in parts)
    finally:
        consumer.close(autocommit=False)


def handover(port: int, tmp: Path, households: int = 0, standbys: int = 1,
             timeout_s: float = 600) -> dict[str, Any]:
    """Seconds for a survivor to restore a SIGKILLed worker's partitions.

    Args:
        port: the broker's.
        tmp: a new directory for this run's state and logs.
        households: households given state after both workers joined (0: an idle group).
        standbys: ``detectors.standby_replicas`` of both workers.
        timeout_s: the longest wait for each step.
    """
    from anbu.kafka_topics import ensure_topics
    from anbu.stack.services import free_port

    settings = _settings(port, tmp / f"var-handover-{standbys}")
    ensure_topics(settings)
    partitions = set(range(settings.kafka.topics.partitions))
    logs = [tmp / f"handover-{standbys}-{n}.log" for n in (1, 2)]
    extra = {"detectors.standby_replicas": str(standbys)}
    procs: list[subprocess.Popen[bytes]] = []
    figures: dict[str, Any] = {"standby_replicas": standbys, "households": households}

    def wait(check: Any, what: str) -> None:
        began = time.monotonic()
        while not check():
            if time.monotonic() - began > timeout_s:
                raise TimeoutError(what)
            time.sleep(0.1)

    try:
        began = time.monotonic()
        procs.append(start_worker(settings, settings.data_dir / "w1", free_port(), logs[0],
                                  extra))
        # the second joins once the first owns everything: the usual way a group grows
        wait(lambda: set(_restored(logs[0])) == partitions,
             f"first worker never owned {partitions}")
        figures["first_owns_all_s"] = round(time.monotonic() - began, 2)
        joined = time.monotonic()
        procs.append(start_worker(settings, settings.data_dir / "w2", free_port(), logs[1],
                                  extra))
        wait(lambda: bool(_restored(logs[1])), "second worker never got a partition")
        figures["second_join_s"] = round(time.monotonic() - joined, 2)
        time.sleep(3)  # the group settles
        if households:
            _fill_state(settings, households)
            wait(lambda: _caught_up(settings), "the workers never caught up with the state")
            time.sleep(5)  # standbys read the last changelog records
        owned_2 = set(_restored(logs[1]))
        before = len(_restored(logs[0]))
        killed = time.monotonic()
        procs[1].kill()
        wait(lambda: owned_2 <= set(_restored(logs[0])[before:]),
             "the survivor never restored the dead worker's partitions")
        figures["handover_after_sigkill_s"] = round(time.monotonic() - killed, 2)
        figures["partitions_moved"] = len(owned_2)
        text = logs[0].read_text()
        restored = HOUSEHOLDS_RESTORED.findall(text)[before:]
        figures["households_moved"] = sum(int(n) for n in restored)
        # the part of the hand-over spent reading the moved partitions' households
        loads = LOAD_SECONDS.findall(text)[before:]
        figures["state_load_s"] = round(sum(float(s) for s in loads), 2)
        figures["session_timeout_s"] = settings.detectors.broker_session_timeout
        return figures
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(events: int = 1_000_000, batch: int = 50, copies: tuple[int, ...] = (1, 2),
        households: int = 0, standbys: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """Throughput for each number of workers, and the handover time for each standby count.

    Args:
        events: the throughput backlog's size.
        batch: events per record.
        copies: worker counts to time (none: the hand-over only).
        households: households with state when a worker is killed (see :func:`handover`).
        standbys: ``detectors.standby_replicas`` values to time the hand-over with.
    """
    with (tempfile.TemporaryDirectory(prefix="anbu-bench-scale-") as name,
          kafka_broker(Path(name)) as port):
        tmp = Path(name)
        rows = []
        for i, n in enumerate(copies):
            (tmp / f"run-{i}").mkdir()
            rows.append(throughput(port, tmp / f"run-{i}", events, batch, n))
        one = rows[0]["events_per_s"] if rows else None
        for row in rows:
            row["vs_one"] = round(row["events_per_s"] / one, 2) \
                if one and row["events_per_s"] else None
        handovers = [handover(port, tmp, households, n) for n in standbys]
        return {"throughput": rows, "handover": handovers[0], "handovers": handovers}
