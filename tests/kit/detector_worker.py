"""The detector worker's tests' material: the worker as a subprocess, a scenario of
households in event time, and producing and reading its topics.

The fixtures ``det_settings`` and ``worker`` are registered for every test by
``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from anbu.events import (
    AlertEvent,
    DeadLetter,
    DeviceEvent,
    EventBatch,
    EventKind,
    SosCause,
    SosEvent,
    SourceFormat,
)
from anbu.kafka_topics import ensure_topics
from anbu.partitioning import partition_of
from anbu.registry_records import HouseholdRecord
from anbu.stack.services import free_port
from anbu.timeutil import SEOUL
from config import Settings
from testkit import processes

# Event times lie in the future, so the wall clock never overtakes the stream and the
# worker's clock is the events' own time: the expected alerts are exactly the backtest's.
# Workers started for these scenarios accept event times that far ahead (FUTURE_MARGIN);
# by default a record more than minutes ahead is dead-lettered (test_detectors_worker_clock).
START = (datetime.now(SEOUL) + timedelta(days=2)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
DAYS = 15
FUTURE_MARGIN = f"{DAYS + 3}d"


def worker_env(settings: Settings, margin: str | None = FUTURE_MARGIN) -> dict[str, str]:
    """The worker's environment; ``margin``: ``detectors.event_time_margin`` (None: default)."""
    topics = settings.kafka.topics
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env.update({
        "ANBU_STACK__DATA_DIR": str(settings.data_dir),
        "ANBU_KAFKA__BOOTSTRAP_SERVERS": ",".join(settings.kafka.bootstrap_servers),
        "ANBU_KAFKA__TOPICS__EVENTS": topics.events,
        "ANBU_KAFKA__TOPICS__SOS": topics.sos,
        "ANBU_KAFKA__TOPICS__DEADLETTER": topics.deadletter,
        "ANBU_KAFKA__TOPICS__REGISTRY": topics.registry,
        "ANBU_KAFKA__TOPICS__ALERTS": topics.alerts,
        "ANBU_DETECTORS__APP_ID": settings.detectors.app_id,
        "ANBU_DETECTORS__WEB_PORT": str(settings.detectors.web_port),
        "ANBU_DETECTORS__TICK_INTERVAL": "0.2s",
    })
    if margin is not None:
        env["ANBU_DETECTORS__EVENT_TIME_MARGIN"] = margin
    return env


class Worker:
    """``anbu worker`` as a subprocess, on ``settings``' topics."""

    def __init__(self, settings: Settings, log: Path, margin: str | None = FUTURE_MARGIN
                 ) -> None:
        self.settings = settings
        self.log = log
        self.margin = margin
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The environment it runs with."""
        return worker_env(self.settings, self.margin)

    def start(self) -> None:
        """Start ``anbu worker``, its output appended to :attr:`log`."""
        self.proc = processes.spawn([sys.executable, "-m", "anbu", "worker"], self.log,
                                    env=self.env())

    def kill(self) -> None:
        """SIGKILL it, as a crash would."""
        assert self.proc is not None
        processes.kill(self.proc)

    def stop(self) -> None:
        """SIGTERM it (SIGKILL after 20 s)."""
        if self.proc is not None:
            processes.stop(self.proc, timeout_s=20)


@pytest.fixture
def det_settings(make_settings: Callable[..., Settings]) -> Settings:
    settings = make_settings({"detectors.web_port": free_port()})
    ensure_topics(settings)
    return settings


@pytest.fixture
def worker(det_settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(det_settings, tmp_path / "worker.log")
    yield w
    w.stop()


def event(hh: str, dev: str, kind: EventKind, value: float, moment: datetime) -> DeviceEvent:
    return DeviceEvent(household_id=hh, device_id=dev, kind=kind, value=value,
                       event_time=moment, receive_time=moment,
                       source_format=SourceFormat.SIMULATOR,
                       idempotency_key=f"{hh}|{dev}|{moment.timestamp()}")


def resident(hh: str, stop_day: int | None, stop_minute: int, back_minute: int | None
             ) -> list[DeviceEvent]:
    """Moves every 10 min 07:00-22:00; silent from ``stop_minute`` of ``stop_day`` until
    ``back_minute`` (never, if None); the gateway heartbeats every 10 minutes."""
    out = []
    for day in range(DAYS):
        for minute in range(0, 1440, 10):
            moment = START + timedelta(days=day, minutes=minute)
            out.append(event(hh, f"gw-{hh}", EventKind.HEARTBEAT, 1, moment))
            silent = day == stop_day and minute >= stop_minute and (
                back_minute is None or minute < back_minute)
            if 420 <= minute <= 1320 and not silent:
                out.append(event(hh, f"motion-{hh}", EventKind.MOTION, 1, moment))
    return out


def batches(events: list[DeviceEvent], window_s: float = 1200) -> list[EventBatch | DeviceEvent]:
    """Group the events of the same 20 minutes bound for one partition, as the bridge groups
    what arrives together (several households in a record); a lone event goes as a single
    DeviceEvent record."""
    out: list[EventBatch | DeviceEvent] = []
    groups: dict[tuple[int, int], list[DeviceEvent]] = {}
    for e in events:
        window = int(e.event_time.timestamp() // window_s)
        groups.setdefault((partition_of(e.household_id, 4), window), []).append(e)
    for (_, _), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        households = {e.household_id for e in group}
        if len(group) == 1:
            out.append(group[0])
        elif len(households) == 1:
            out.append(EventBatch(household_id=group[0].household_id, events=group))
        else:
            out.append(EventBatch(events=group))
    return out


def send(producer: KafkaProducer, settings: Settings, record: Any) -> None:
    """Send a registry record, or an event record to the partition of its household's key
    (as the bridge sends mixed batches)."""
    topics = settings.kafka.topics
    if isinstance(record, HouseholdRecord):
        producer.send(topics.registry, key=f"household:{record.household_id}".encode(),
                      value=record.to_json())
        return
    topic = topics.sos if isinstance(record, SosEvent) else topics.events
    hh = record.events[0].household_id if isinstance(record, EventBatch) else \
        record.household_id
    producer.send(topic, key=record.household_id.encode() if record.household_id
                  else None, value=record.to_json(),
                  partition=partition_of(hh, topics.partitions))


def _producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all",
                         max_in_flight_requests_per_connection=1)


def produce(settings: Settings, records: list[Any]) -> None:
    """Send the records (in order) and wait for the broker's acks."""
    producer = _producer(settings)
    for record in records:
        send(producer, settings, record)
    producer.flush()
    producer.close()


class AlertReader:
    def __init__(self, settings: Settings) -> None:
        topic = settings.kafka.topics.alerts
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                                      enable_auto_commit=False, consumer_timeout_ms=500)
        parts = [TopicPartition(topic, p) for p in range(settings.kafka.topics.partitions)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.alerts: list[AlertEvent] = []

    def pairs(self) -> set[tuple[str, str]]:
        return {(a.alert_id, a.action.value) for a in self.alerts}

    def wait_for(self, want: Callable[[set[tuple[str, str]]], bool], timeout: float,
                 worker: Worker | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker is not None and worker.proc is not None and worker.proc.poll() is not None:
                raise AssertionError("the worker died: " + worker.log.read_text()[-3000:])
            for batch in self.consumer.poll(timeout_ms=300).values():
                self.alerts += [AlertEvent.from_json(m.value) for m in batch]
            if want(self.pairs()):
                return

    def close(self) -> None:
        self.consumer.close()


def scenario() -> tuple[list[Any], list[Any]]:
    """Two halves of one stream: history, a silent morning, an SOS; then returns."""
    first: list[DeviceEvent] = []
    second: list[DeviceEvent] = []
    split = START + timedelta(days=DAYS - 1, hours=16)
    households = {
        "hh-silent": resident("hh-silent", DAYS - 1, 600, None),  # alert, never resolved
        # silences model: alerts about 5 h into a silence (rates model: 2 h)
        "hh-back": resident("hh-back", DAYS - 1, 540, 1140),  # alert ~14:30, back 19:00
        "hh-late": resident("hh-late", DAYS - 1, 780, 1320),  # alert after the split
        "hh-fine": resident("hh-fine", None, 0, None),
    }
    stream = sorted((e for evs in households.values() for e in evs),
                    key=lambda e: e.event_time)
    for e in stream:
        (first if e.event_time < split else second).append(e)
    sos_moment = START + timedelta(days=DAYS - 1, hours=8)
    sos = SosEvent(household_id="hh-fine", device_id="btn-1", cause=SosCause.BUTTON,
                   event_time=sos_moment, receive_time=sos_moment,
                   source_format=SourceFormat.ANBU, idempotency_key="sos-1")
    registry = [HouseholdRecord(household_id=hh, care_center_id="cc-1", dong="d")
                for hh in households]
    return [*registry, *batches(first), sos], batches(second)


def flatten(records: list[Any]) -> list[DeviceEvent | SosEvent]:
    flat: list[DeviceEvent | SosEvent] = []
    for r in records:
        if isinstance(r, EventBatch):
            flat += r.events
        elif not isinstance(r, HouseholdRecord):
            flat.append(r)
    return sorted(flat, key=lambda e: e.event_time)


def pairs_of(alerts: list[AlertEvent]) -> set[tuple[str, str]]:
    return {(a.alert_id, a.action.value) for a in alerts}


def drip(settings: Settings, records: list[Any], per_second: int) -> None:
    """Produce event records at a steady pace, as a live stream arrives."""
    producer = _producer(settings)
    chunk = max(1, per_second // 10)
    try:
        for start in range(0, len(records), chunk):
            for record in records[start:start + chunk]:
                send(producer, settings, record)
            producer.flush()
            time.sleep(0.1)
    finally:
        producer.close()


def dead_letters(settings: Settings) -> list[DeadLetter]:
    topic = settings.kafka.topics.deadletter
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        return [DeadLetter.from_json(m.value) for m in consumer]
    finally:
        consumer.close()
