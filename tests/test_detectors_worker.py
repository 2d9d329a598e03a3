"""The detector worker through the real Kafka broker, as a subprocess."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaProducer

from anbu.events import (
    AlertAction,
    AlertKind,
    EventKind,
    SosCause,
    SosEvent,
    SourceFormat,
)
from anbu.registry_records import HouseholdRecord
from config import Settings
from detectors.backtest import run_backtest
from tests.kit.detector_worker import (
    START,
    AlertReader,
    Worker,
    event,
    flatten,
    pairs_of,
    produce,
    scenario,
)


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


def test_one_sos_press_sent_by_several_bridges_counts_once(det_settings: Settings,
                                                           tmp_path: Path) -> None:
    """Each bridge's SOS lane sends every press, stamped with its own receive time: the
    copies share the idempotency key, and count once, also across a worker restart (the
    keys are in the saved state). A real second press (another key) counts: the control."""
    hh = "sos-bridges"
    worker = Worker(det_settings, tmp_path / "worker.log")
    reader = AlertReader(det_settings)

    def press(key: str, seconds: float) -> SosEvent:
        at = START + timedelta(seconds=seconds)
        return SosEvent(household_id=hh, device_id="btn", cause=SosCause.BUTTON,
                        event_time=at, receive_time=at, source_format=SourceFormat.ANBU,
                        idempotency_key=key)

    def seen(action: AlertAction, seconds: float) -> Callable[[set[tuple[str, str]]], bool]:
        at = START + timedelta(seconds=seconds)
        return lambda _: any(a.household_id == hh and a.action is action and a.raised_at == at
                             for a in reader.alerts)

    try:
        worker.start()
        produce(det_settings, [HouseholdRecord(household_id=hh, care_center_id="cc-1",
                                               dong="d")])
        produce(det_settings, [press("msg-1:sos.button", 0), press("msg-1:sos.button", 0.4)])
        reader.wait_for(seen(AlertAction.RAISE, 0), 90, worker)
        worker.stop()  # a clean stop saves the household's state
        produce(det_settings, [press("msg-1:sos.button", 2)])  # a late third copy
        worker.start()
        produce(det_settings, [press("msg-2:sos.button", 5)])  # pressed again
        reader.wait_for(seen(AlertAction.UPDATE, 5), 90, worker)
        log = worker.log.read_text()
        sos = {(a.action, a.details.get("presses"), a.raised_at - START) for a in reader.alerts
               if a.household_id == hh}
        # the copies (before the second press on the same partition) counted nothing
        assert sos == {(AlertAction.RAISE, None, timedelta(0)),
                       (AlertAction.UPDATE, 2, timedelta(seconds=5))}, log[-3000:]
    finally:
        reader.close()
        worker.stop()
