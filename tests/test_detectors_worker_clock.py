"""The worker bounds event time by its wall clock: a record from far ahead moves no clock.

The real worker as a subprocess on the test broker, with its default
``detectors.event_time_margin``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from anbu.events import (
    AlertAction,
    AlertEvent,
    AlertKind,
    DeadLetter,
    EventKind,
    SosCause,
    SosEvent,
    SourceFormat,
)
from anbu.partitioning import partition_of
from anbu.registry_records import GatewayRecord, HouseholdRecord
from anbu.timeutil import utcnow
from config import Settings
from detectors.params import DetectorParams
from detectors.runtime import Runtime
from testkit.polling import wait_for
from testkit.services import RunningService
from tests.kit.detector_worker import AlertReader, Worker, dead_letters, event, produce

YEAR = timedelta(days=365)
HEARTBEAT_S = 5
"""The silent gateway's registered heartbeat interval: offline after three missed."""
DUE_S = 3 * HEARTBEAT_S
"""Seconds after the test's `now` at which the gateway is offline and the collapse due."""
FALSE_S = 15
"""How long after that the test keeps reading, for an alert that should not come."""


def on_partition(prefix: str, partition: int, partitions: int) -> str:
    """A household id starting with ``prefix`` that Kafka puts on ``partition``."""
    n = 0
    while partition_of(f"{prefix}-{n}", partitions) != partition:
        n += 1
    return f"{prefix}-{n}"


WALL = 1_800_000_000.0
"""Where the runtime tests' wall clock stands still (2027-01-15)."""


def stopped_clock_runtime() -> Runtime:
    """A one-partition runtime whose wall clock stands at :data:`WALL`, refusing any record
    with an event more than 420 s (7 min) ahead of it."""
    return Runtime(DetectorParams(), 1, wall=lambda: WALL, max_ahead_s=420.0)


def test_a_record_a_year_ahead_is_dead_lettered_and_moves_no_clock(
    det_settings: Settings, tmp_path: Path
) -> None:
    parts = det_settings.kafka.topics.partitions
    fine, collapse, silent_gw, ahead, sos_hh = (
        on_partition(name, 0, parts) for name in ("fine", "collapse", "gw", "ahead", "sos"))
    worker = Worker(det_settings, tmp_path / "worker.log", margin=None)
    reader = AlertReader(det_settings)
    seen_at: dict[str, float] = {}  # alert id -> wall clock when this test first read it

    def poll_until(done: Callable[[], bool], until: float) -> None:
        while time.time() < until and not done():
            assert worker.proc is not None and worker.proc.poll() is None, \
                worker.log.read_text()[-3000:]
            for batch in reader.consumer.poll(timeout_ms=300).values():
                for m in batch:
                    alert = AlertEvent.from_json(m.value)
                    reader.alerts.append(alert)
                    seen_at.setdefault(alert.alert_id, time.time())

    def of(hh: str, kind: AlertKind) -> list[AlertEvent]:
        return [a for a in reader.alerts if a.household_id == hh and a.kind is kind]

    try:
        worker.start()
        producer = KafkaProducer(bootstrap_servers=det_settings.kafka.bootstrap_servers,
                                 acks="all")
        records = [HouseholdRecord(household_id=hh, care_center_id="cc-1", dong="d",
                                   inactivity_hours=1.0 if hh == collapse else 24.0)
                   for hh in (fine, collapse, silent_gw, ahead, sos_hh)]
        gateway = GatewayRecord(gateway_id="gw-silent", household_id=silent_gw,
                                mqtt_username="gw-silent", heartbeat_interval_s=HEARTBEAT_S)
        for r in records:
            producer.send(det_settings.kafka.topics.registry,
                          key=f"household:{r.household_id}".encode(), value=r.to_json())
        producer.send(det_settings.kafka.topics.registry, key=b"gateway:gw-silent",
                      value=gateway.to_json())
        producer.flush()
        producer.close()
        # The schedule below is in wall-clock seconds from `now`: start it once the worker
        # has taken partition 0, so a slow start does not eat the margins.
        wait_for(lambda: "partition 0: restored" in worker.log.read_text(), 120,
                 step_s=0.2, what="the worker to take partition 0")

        now = utcnow().replace(microsecond=0)
        # the collapse: last seen an hour less DUE_S ago, fixed rule of one hour
        last_move = now - timedelta(hours=1) + timedelta(seconds=DUE_S)
        first = [
            event(collapse, "m-c", EventKind.MOTION, 1, last_move),
            *(event(silent_gw, "gw-silent", EventKind.HEARTBEAT, 1,
                    now - timedelta(seconds=s * HEARTBEAT_S)) for s in (3, 2, 1, 0)),
            event(fine, "m-f", EventKind.MOTION, 1, now),
        ]
        # the record from a producer with a wrong clock, then ordinary ones behind it
        far = event(ahead, "m-a", EventKind.MOTION, 1, now + YEAR)
        marker = event(ahead, "b-a", EventKind.BATTERY, 5, now)  # battery_low at once
        produce(det_settings, [*first, far, marker])
        sos_far = SosEvent(household_id=sos_hh, device_id="btn", cause=SosCause.BUTTON,
                           event_time=now + YEAR, receive_time=now,
                           source_format=SourceFormat.ANBU, idempotency_key="sos-far")
        produce(det_settings, [sos_far])
        sent_sos = time.time()
        poll_until(lambda: bool(of(sos_hh, AlertKind.SOS)), time.time() + 60)
        sos_again = SosEvent(household_id=sos_hh, device_id="btn", cause=SosCause.BUTTON,
                             event_time=utcnow(), receive_time=utcnow(),
                             source_format=SourceFormat.ANBU, idempotency_key="sos-again")
        produce(det_settings, [sos_again])
        # the gateway was heard last at `now`: offline three intervals (DUE_S) later; the
        # collapse is due at last_move + 1 h, DUE_S after `now` too; then FALSE_S for
        # anything false to show up (a clock moved a year ahead would raise at once)
        poll_until(lambda: False, now.timestamp() + DUE_S + FALSE_S)
        log = worker.log.read_text()

        letters = [d for d in dead_letters(det_settings) if d.reason == "event_time_ahead"]
        assert len(letters) == 1, log[-3000:]
        assert letters[0].topic == f"kafka:{det_settings.kafka.topics.events}"
        assert ahead in letters[0].payload and str((now + YEAR).year) in letters[0].payload
        assert "past the latest accepted" in letters[0].detail

        # the records behind it on the same partition were processed
        assert of(ahead, AlertKind.BATTERY_LOW), log[-3000:]
        # the silent gateway is reported on time, at the moment it fell due
        offline = of(silent_gw, AlertKind.GATEWAY_OFFLINE)
        assert offline, log[-3000:]
        assert offline[0].raised_at == now + timedelta(seconds=DUE_S)
        assert seen_at[offline[0].alert_id] - offline[0].raised_at.timestamp() < 10
        # a real collapse on that partition is still alerted, at its own time ...
        inactive = [a for a in reader.alerts if a.household_id == collapse
                    and a.kind.value.startswith("inactivity")]
        assert inactive and inactive[0].action is AlertAction.RAISE, log[-3000:]
        assert inactive[0].raised_at == last_move + timedelta(hours=1)
        # ... and nothing is raised for the household that is fine, nor from a year ahead
        assert not [a for a in reader.alerts if a.household_id == fine]
        assert all(a.raised_at < datetime.now(a.raised_at.tzinfo) + timedelta(minutes=1)
                   for a in reader.alerts)

        # the SOS from a year ahead is raised, at when Kafka took it, and logged as such;
        # the next press is the same episode (a year-ahead time would have swallowed it)
        sos = of(sos_hh, AlertKind.SOS)
        assert [a.action for a in sos] == [AlertAction.RAISE, AlertAction.UPDATE], log[-3000:]
        assert abs(sos[0].raised_at.timestamp() - sent_sos) < 5
        assert sos[1].details["presses"] == 2
        assert "too far ahead of the wall clock; raised with the time" in log
        assert "ERROR" not in log, log[-3000:]
    finally:
        reader.close()
        worker.stop()


def test_the_runtime_refuses_a_record_with_any_event_too_far_ahead_before_applying_it() -> None:
    import math

    from detectors.exceptions import EventTimeAheadError

    rt = stopped_clock_runtime()
    ok = (WALL + 419.0, "hh-1", "m", "motion", 1.0, None)
    rt.apply_events(0, [ok])  # within the limit: taken (the control)
    engine = rt.states[0].engine
    assert engine.now == WALL + 419.0 and "hh-1" in engine.households
    far = (WALL + 421.0, "hh-2", "m", "motion", 1.0, None)
    with pytest.raises(EventTimeAheadError) as caught:
        rt.apply_events(0, [(WALL, "hh-2", "m", "motion", 1.0, None), far])
    assert caught.value.household_id == "hh-2" and caught.value.event_time == WALL + 421.0
    # nothing of the refused record was applied, not even its event in time
    assert engine.now == WALL + 419.0 and "hh-2" not in engine.households
    # a clock ahead of the wall clock keeps health on the wall clock; a backlog has none
    assert rt.health_now(engine) == WALL
    engine.now = WALL - 3600.0
    assert rt.health_now(engine) == -math.inf


def test_a_batch_loses_only_its_events_too_far_ahead(det_settings: Settings,
                                                     tmp_path: Path) -> None:
    """One event from a wrong clock in a mixed batch: just it is dead-lettered, the other
    households' events in that batch (and the household's own good ones) are applied."""
    from anbu.events import EventBatch

    parts = det_settings.kafka.topics.partitions
    other, ahead = (on_partition(name, 1, parts) for name in ("other", "ahead"))
    worker = Worker(det_settings, tmp_path / "worker.log", margin=None)
    reader = AlertReader(det_settings)
    try:
        worker.start()
        produce(det_settings, [HouseholdRecord(household_id=hh, care_center_id="cc-1",
                                               dong="d") for hh in (other, ahead)])
        now = utcnow().replace(microsecond=0)
        far = event(ahead, "m-a", EventKind.MOTION, 1, now + YEAR)
        batch = EventBatch(events=[
            event(other, "b-o", EventKind.BATTERY, 5, now),  # battery_low at once
            far,
            event(ahead, "b-a", EventKind.BATTERY, 5, now),
        ])
        produce(det_settings, [batch])

        def both(_: set[tuple[str, str]]) -> bool:
            return {a.household_id for a in reader.alerts
                    if a.kind is AlertKind.BATTERY_LOW} == {other, ahead}

        reader.wait_for(both, 90, worker)
        log = worker.log.read_text()
        assert both(set()), log[-3000:]  # the control: the batch's good events were applied
        deadline = time.time() + 10
        letters: list[DeadLetter] = []
        while not letters and time.time() < deadline:
            letters = [d for d in dead_letters(det_settings) if d.reason == "event_time_ahead"]
        assert len(letters) == 1, log[-3000:]
        refused = EventBatch.from_json(letters[0].payload.encode())
        assert refused.events == [far]  # just the event from a year ahead, as it was sent
        assert "refused 1 of the 3 events" in letters[0].detail
        assert letters[0].topic == f"kafka:{det_settings.kafka.topics.events}"
        # nothing was raised from a year ahead
        assert all(a.raised_at < datetime.now(a.raised_at.tzinfo) + timedelta(minutes=1)
                   for a in reader.alerts)
    finally:
        reader.close()
        worker.stop()


def test_the_runtime_applies_a_batch_but_its_events_too_far_ahead() -> None:
    from anbu.events import EventBatch
    from detectors.fastparse import fast_events

    rt = stopped_clock_runtime()
    at = datetime.fromtimestamp(WALL).astimezone()
    good = [event("hh-1", "m", EventKind.MOTION, 1, at + timedelta(seconds=419))]
    raw = EventBatch(events=good).to_json()
    events = fast_events(raw)
    assert events is not None
    assert rt.apply_within(0, events, 0, raw, "anbu.events")[1] is None  # the control
    far = event("hh-2", "m", EventKind.MOTION, 1, at + timedelta(seconds=421))
    mixed = [event("hh-2", "m", EventKind.MOTION, 1, at), far, *good]
    raw = EventBatch(events=mixed).to_json()
    events = fast_events(raw)
    assert events is not None
    _, letter = rt.apply_within(0, events, 1, raw, "anbu.events")
    assert letter is not None and letter.reason == "event_time_ahead"
    assert EventBatch.from_json(letter.payload.encode()).events == [far]
    engine = rt.states[0].engine
    # hh-2's event in time was applied; the one ahead moved no clock
    assert "hh-2" in engine.households and engine.now == WALL + 419.0
    # a record of only refused events is dead-lettered as it came
    raw = far.to_json()
    events = fast_events(raw)
    assert events is not None
    _, letter = rt.apply_within(0, events, 2, raw, "anbu.events")
    assert letter is not None and letter.payload == raw.decode()


def test_the_clock_waits_for_kafka_at_most_outage_max_freeze(
    kafka: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio
    import math

    from anbu.health import recent_errors
    from anbu.stack.services import free_port
    from config import load_settings
    from detectors.outage import KafkaOutage

    settings = load_settings(None, {"detectors.outage_max_freeze": "1s"})
    rt = Runtime(DetectorParams.from_settings(settings.detectors), 1)
    outage = KafkaOutage(rt, [f"127.0.0.1:{free_port()}"])  # nobody listens there

    async def run() -> None:
        await outage.check()
        assert not outage.clock_may_move()  # held: while Kafka is away silence says nothing
        await asyncio.sleep(0.3)
        await outage.check()
        assert not outage.clock_may_move()  # the control: still held within the bound
        await asyncio.sleep(1.0)
        await outage.check()
        assert outage.clock_may_move()  # past the bound the clock moves again ...
        assert rt.pause.until == math.inf  # ... but silence waits for Kafka
        assert "longer than detectors.outage_max_freeze" in caplog.text
        assert "outage_max_freeze" in recent_errors()["detectors clock"]  # in the heartbeat
        outage.probe.servers = [f"127.0.0.1:{kafka.port}"]  # Kafka is back
        await outage.check()
        assert outage.clock_may_move() and not outage.thawed
        assert rt.pause.until < math.inf  # the usual grace after an outage

    with caplog.at_level("ERROR", logger="detectors.outage"):
        asyncio.run(run())


def test_after_an_outage_silence_waits_for_the_devices_messages_to_flow_again() -> None:
    from detectors.outage import FLOW_WAIT_MAX_S, GRACE_AFTER_S

    back = WALL + 60.0  # Kafka answers again 60 s after the gateway's last heartbeat
    now = [WALL]

    def runtime() -> Runtime:
        rt = Runtime(DetectorParams(), 1, wall=lambda: now[0])
        rt.apply_registry("gateway:gw", GatewayRecord(
            gateway_id="gw", household_id="hh", mqtt_username="gw", heartbeat_interval_s=10))
        for k in range(6):  # heard every 10 s until the outage
            now[0] = WALL - 50 + 10 * k
            rt.apply_events(0, [(now[0], "hh", "gw", "heartbeat", 1.0, None)])
        now[0] = back
        rt.pause.await_fresh_records(back, GRACE_AFTER_S, FLOW_WAIT_MAX_S)
        return rt

    def offline(rt: Runtime, at: float) -> bool:
        now[0] = at
        return any(a.kind is AlertKind.GATEWAY_OFFLINE for a in rt.tick())

    # the bridge is still retrying 40 s after Kafka's return: its gateways are not silent
    rt = runtime()
    assert not offline(rt, back + GRACE_AFTER_S + 10)
    # the held messages arrive, stamped during the outage: still not the flow again
    now[0] = back + 45
    rt.apply_events(0, [(WALL + 5, "hh", "gw", "heartbeat", 1.0, None)])
    assert not offline(rt, back + 50)
    # a message stamped after Kafka's return: silence is judged again GRACE_AFTER_S later
    now[0] = back + 46
    rt.apply_events(0, [(back + 44, "hh", "gw", "heartbeat", 1.0, None)])
    assert not offline(rt, back + 46 + GRACE_AFTER_S - 1)
    # positive control: the gateway then stays quiet and is reported offline
    assert offline(rt, back + 46 + GRACE_AFTER_S + 10)

    # positive control: no message ever comes again (a district without power): reported
    # once FLOW_WAIT_MAX_S have passed, not never
    rt = runtime()
    assert not offline(rt, back + FLOW_WAIT_MAX_S - 1)
    assert offline(rt, back + FLOW_WAIT_MAX_S + 1)
