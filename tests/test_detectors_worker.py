"""The detector worker through the real Kafka broker, as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from anbu.events import (
    AlertAction,
    AlertEvent,
    AlertKind,
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
from detectors.backtest import run_backtest
from detectors.params import DetectorParams

# Event times lie in the future, so the wall clock never overtakes the stream and the
# worker's clock is the events' own time: the expected alerts are exactly the backtest's.
# Workers started for these scenarios accept event times that far ahead (FUTURE_MARGIN);
# by default a record more than minutes ahead is dead-lettered (test_detectors_worker_clock).
START = (datetime.now(SEOUL) + timedelta(days=2)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
DAYS = 15
RATES = DetectorParams(routine_model="rates")
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
    def __init__(self, settings: Settings, log: Path, margin: str | None = FUTURE_MARGIN
                 ) -> None:
        self.settings = settings
        self.log = log
        self.margin = margin
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "anbu", "worker"],
                env=worker_env(self.settings, self.margin),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


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


def produce(settings: Settings, records: list[Any]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all",
                             max_in_flight_requests_per_connection=1)
    topics = settings.kafka.topics
    for record in records:
        if isinstance(record, HouseholdRecord):
            producer.send(topics.registry, key=f"household:{record.household_id}".encode(),
                          value=record.to_json())
        else:
            topic = topics.sos if isinstance(record, SosEvent) else topics.events
            hh = record.events[0].household_id if isinstance(record, EventBatch) else \
                record.household_id
            # the partition of the household key, as the bridge sends mixed batches
            producer.send(topic, key=record.household_id.encode() if record.household_id
                          else None, value=record.to_json(),
                          partition=partition_of(hh, settings.kafka.topics.partitions))
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


def test_events_in_alerts_out_and_a_killed_worker_loses_and_repeats_nothing(
    det_settings: Settings, worker: Worker
) -> None:
    part1, part2 = scenario()
    expected_first = pairs_of(run_backtest(flatten(part1)))
    everything = run_backtest(flatten(part1 + part2))
    expected = pairs_of(everything)
    assert sorted(a.kind.value + "/" + a.action.value for a in everything) == [
        "inactivity_routine/raise", "inactivity_routine/raise", "inactivity_routine/raise",
        "inactivity_routine/resolve", "inactivity_routine/resolve", "sos/raise"]
    assert expected_first < expected

    reader = AlertReader(det_settings)
    try:
        produce(det_settings, part1)
        worker.start()
        reader.wait_for(lambda got: got >= expected_first, timeout=90, worker=worker)
        assert reader.pairs() == expected_first, worker.log.read_text()[-3000:]
        # let it commit its offsets, then kill it between the two halves of the stream
        time.sleep(4)
        worker.kill()
        produce(det_settings, part2)
        worker.start()
        reader.wait_for(lambda got: got >= expected, timeout=120, worker=worker)
        time.sleep(3)  # anything extra would show up now
        reader.wait_for(lambda got: False, timeout=1)
        log = worker.log.read_text()
        assert reader.pairs() == expected, log[-3000:]
        assert "ERROR" not in log, log[-3000:]
        sos = [a for a in reader.alerts if a.kind.value == "sos"]
        assert sos and sos[0].household_id == "hh-fine" and sos[0].severity.value == "critical"
        back = [a for a in reader.alerts if a.household_id == "hh-back"
                and a.action.value == "resolve"]
        assert back and back[0].details["resolved_by"] == "activity"
        assert datetime.now(UTC) < min(a.raised_at for a in reader.alerts)
    finally:
        reader.close()


def test_a_partition_with_no_record_after_a_restart_still_raises_gateway_offline(
    det_settings: Settings, worker: Worker
) -> None:
    # A household's gateway (heartbeat every 10 s) is heard, the worker saves it and is
    # restarted, and then nothing at all arrives on its partition: a power cut. The
    # restarted worker must still notice the gateway going quiet.
    from anbu.registry_records import GatewayRecord
    from anbu.timeutil import utcnow

    hh = "hh-quiet"
    reader = AlertReader(det_settings)
    try:
        worker.start()
        now = utcnow()
        beats = [event(hh, "gw-quiet", EventKind.HEARTBEAT, 1, now - timedelta(seconds=s))
                 for s in (30, 20, 10, 0)]
        marker = event(hh, "motion-quiet", EventKind.BATTERY, 5, now)  # battery_low at once
        producer = KafkaProducer(bootstrap_servers=det_settings.kafka.bootstrap_servers,
                                 acks="all")
        gateway = GatewayRecord(gateway_id="gw-quiet", household_id=hh,
                                mqtt_username="gw-quiet", heartbeat_interval_s=10)
        producer.send(det_settings.kafka.topics.registry, key=b"gateway:gw-quiet",
                      value=gateway.to_json())
        producer.flush()
        producer.close()
        produce(det_settings, [*beats, marker])

        def raised(kind: AlertKind) -> bool:
            return any(a.kind is kind and a.action is AlertAction.RAISE for a in reader.alerts)

        reader.wait_for(lambda _: raised(AlertKind.BATTERY_LOW), timeout=60, worker=worker)
        assert not raised(AlertKind.GATEWAY_OFFLINE)
        time.sleep(3)  # its checkpoint (every second for a quiet partition)
        worker.stop()
        worker.start()
        reader.wait_for(lambda _: raised(AlertKind.GATEWAY_OFFLINE), timeout=90,
                        worker=worker)
        offline = [a for a in reader.alerts if a.kind is AlertKind.GATEWAY_OFFLINE]
        assert offline, worker.log.read_text()[-3000:]
        assert offline[0].household_id == hh
        # heard last at `now`; offline after three missed heartbeats
        assert offline[0].raised_at == now + timedelta(seconds=30)
    finally:
        reader.close()


def test_a_recreated_input_topic_is_read_from_its_start(
    det_settings: Settings, worker: Worker
) -> None:
    # The embedded broker keeps its data in memory: after `anbu up` restarts, anbu.events
    # is empty again while the worker's saved state says it processed N records of it.
    from kafka.admin import KafkaAdminClient, NewTopic

    from anbu.timeutil import utcnow

    def raised_for(hh: str) -> bool:
        return any(a.household_id == hh and a.kind is AlertKind.BATTERY_LOW
                   for a in reader.alerts)

    topic = det_settings.kafka.topics.events
    reader = AlertReader(det_settings)
    try:
        worker.start()
        now = utcnow()
        first = [event(f"hh-before-{i}", "m", EventKind.BATTERY, 5, now) for i in range(40)]
        produce(det_settings, first)
        reader.wait_for(lambda _: all(raised_for(f"hh-before-{i}") for i in range(40)),
                        timeout=60, worker=worker)
        time.sleep(3)  # its checkpoint
        worker.stop()
        admin = KafkaAdminClient(bootstrap_servers=det_settings.kafka.bootstrap_servers)
        try:
            admin.delete_topics([topic])
            time.sleep(1)
            admin.create_topics([NewTopic(topic, det_settings.kafka.topics.partitions, 1)])
        finally:
            admin.close()
        worker.start()
        produce(det_settings, [event("hh-after", "m", EventKind.BATTERY, 5, utcnow())])
        reader.wait_for(lambda _: raised_for("hh-after"), timeout=60, worker=worker)
        assert raised_for("hh-after"), worker.log.read_text()[-3000:]
        assert "the topic was recreated; reading it from its start" in worker.log.read_text()
    finally:
        reader.close()
