"""The pure detector core over event sequences: no broker, event time only."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

from anbu.events import (
    AlertAction,
    AlertEvent,
    AlertKind,
    DeviceEvent,
    EventKind,
    Severity,
    SosCause,
    SosEvent,
    SourceFormat,
)
from anbu.registry_records import AwayPeriod, GatewayRecord, HouseholdRecord
from anbu.timeutil import SEOUL
from detectors.backtest import Row, make_engine, run_backtest
from detectors.engine import Engine
from detectors.params import DetectorParams
from tests.kit.detector_rows import HH, RATES, at, kinds, routine_rows, run


def test_a_normal_night_and_nap_raise_nothing() -> None:
    engine = make_engine()
    rows = routine_rows(range(0, 17), nap=True, heartbeat_until=at(17, 0))
    assert run(engine, rows) == []
    # positive control: the same days, but the last day's nap never ends (nothing moves
    # after 13:00 while the gateway's heartbeats go on): the routine model raises that day
    stopped = routine_rows(range(0, 17), nap=True, heartbeat_until=at(17, 0), stop_at=at(16, 13))
    alerts = run(make_engine(), stopped)
    assert kinds(alerts) == [("inactivity_routine", "raise")]
    assert at(16, 13) < alerts[0].raised_at.timestamp() < at(17, 0)


def test_morning_silence_against_the_learned_routine_raises_within_the_promised_time() -> None:
    p = RATES
    engine = make_engine(params=p)
    stop = at(14, 10)
    alerts = run(engine, routine_rows(range(0, 15), stop_at=stop, heartbeat_until=at(15, 0)))
    assert kinds(alerts) == [("inactivity_routine", "raise")]
    alert = alerts[0]
    last = at(14, 9 + 50 / 60)  # the last movement, 09:50
    # the model's promise: 6 active 5-minute spans an hour, so exp(-Λ) < 1e-5 once
    # Λ = 11.5, i.e. after 1.9 h, held to the 2 h minimum silence
    assert alert.raised_at.timestamp() == last + p.routine_min_silence_s
    assert float(alert.details["probability"]) <= 1e-5
    assert alert.severity is Severity.HIGH
    assert "no activity for 2 h 0 min" in alert.reason
    assert "Mondays" in alert.reason and "1 in 100,000" in alert.reason
    assert "2시간 0분 동안 활동이 없습니다" in alert.reason_ko

    # the same data under the fixed 24 h rule alone: a whole day later
    fixed = run(make_engine(routine=False),
                routine_rows(range(0, 16), stop_at=stop, heartbeat_until=at(16, 0)))
    assert kinds(fixed) == [("inactivity", "raise")]
    assert fixed[0].raised_at.timestamp() == last + 24 * 3600


def test_cold_start_uses_the_fixed_rule() -> None:
    engine = make_engine()
    stop = at(0, 20)  # half a day of history: less than the day the model needs to judge
    alerts = run(engine, routine_rows(range(0, 2), stop_at=stop, heartbeat_until=at(2, 0)))
    assert kinds(alerts) == [("inactivity", "raise")]
    assert alerts[0].raised_at.timestamp() == at(0, 19 + 50 / 60) + 24 * 3600

    # positive control: two days of history, and the routine judges (the prior carries it)
    engine = make_engine()
    stop = at(2, 10)
    alerts = run(engine, routine_rows(range(0, 4), stop_at=stop, heartbeat_until=at(4, 0)))
    assert kinds(alerts)[0] == ("inactivity_routine", "raise")
    assert alerts[0].raised_at.timestamp() < at(2, 9 + 50 / 60) + 12 * 3600


def silent_since_ten() -> tuple[Engine, list[AlertEvent]]:
    """An engine that learned two weeks of routine, then saw nothing after 10:00 on the last
    day; by 12:00 it has raised the routine inactivity alert (asserted here).

    Returns:
        the engine and the alerts it raised.
    """
    engine = make_engine(params=RATES)
    alerts = run(engine, routine_rows(range(0, 15), stop_at=at(14, 10)), until=at(14, 12))
    assert kinds(alerts) == [("inactivity_routine", "raise")]
    return engine, alerts


def test_activity_resolves_and_a_checkin_answer_is_recorded_as_such() -> None:
    engine, alerts = silent_since_ten()
    answer = engine.observe(HH, "robot-1", "checkin_answer", 1.0, at(14, 12.5), "req-42")
    assert answer is not None and kinds(answer) == [("inactivity_routine", "resolve")]
    assert answer[0].alert_id == alerts[0].alert_id
    assert answer[0].details["resolved_by"] == "checkin_answer"
    assert answer[0].details["request_id"] == "req-42"

    engine2, _ = silent_since_ten()
    moved = engine2.observe(HH, "motion-1", "motion", 1.0, at(14, 12.5))
    assert moved is not None and moved[0].details["resolved_by"] == "activity"


def test_a_not_ok_checkin_answer_keeps_the_alert_open_and_raises_an_sos() -> None:
    engine, _ = silent_since_ten()
    answer = engine.observe(HH, "robot-1", "checkin_answer", 0.0, at(14, 12.5), "req-43")
    assert answer is not None and kinds(answer) == [("sos", "raise")]
    assert answer[0].severity is Severity.CRITICAL
    assert answer[0].details["cause"] == "checkin_not_ok"
    assert "not all right" in answer[0].reason and "괜찮지 않다" in answer[0].reason_ko
    # The inactivity alert was not closed: real movement later still resolves it.
    moved = engine.observe(HH, "motion-1", "motion", 1.0, at(14, 13))
    assert moved is not None and ("inactivity_routine", "resolve") in kinds(moved)


def test_gateway_outage_raises_a_health_alert_and_no_inactivity_until_it_is_back() -> None:
    engine = make_engine(gateways=[GatewayRecord(gateway_id="gw-1", household_id=HH,
                                                 mqtt_username="gw-1", heartbeat_interval_s=300)])
    outage = at(14, 10)
    rows = routine_rows(range(0, 15), stop_at=outage, heartbeat_until=outage)
    # another household keeps the clock moving for a day and a half
    rows += [(at(14, 10) + i * 600.0, "hh-2", "m-2", "motion", 1.0) for i in range(6 * 36)]
    alerts = [a for a in run(engine, rows) if a.household_id == HH]
    assert kinds(alerts) == [("gateway_offline", "raise")]
    assert alerts[0].raised_at.timestamp() == at(14, 9 + 55 / 60) + 3 * 300
    assert alerts[0].severity is Severity.WARNING

    # the gateway comes back and the home is still silent: alert promptly, not a day later
    back = at(15, 22)
    hb = [(back + i * 300.0, HH, "gw-1", "heartbeat", 1.0) for i in range(24)]
    later = run(engine, hb)
    assert kinds(later)[0] == ("gateway_offline", "resolve")
    raised = [a for a in later if a.action is AlertAction.RAISE]
    assert [a.kind for a in raised] == [AlertKind.INACTIVITY]  # over 24 h since 09:50
    assert raised[0].raised_at.timestamp() == back + DetectorParams().recovery_grace_s


def test_an_away_period_mutes_and_no_return_by_its_end_raises_one() -> None:
    away = AwayPeriod(start=datetime.fromtimestamp(at(14, 10), UTC),
                      end=datetime.fromtimestamp(at(17, 10), UTC))
    record = HouseholdRecord(household_id=HH, care_center_id="cc", dong="d",
                             away_periods=[away])
    stop = at(14, 9.5)
    rows = routine_rows(range(0, 18), stop_at=stop)
    alerts = run(make_engine({HH: record}), rows, until=at(18, 0))
    assert kinds(alerts) == [("away_overrun", "raise")]
    grace = DetectorParams().away_grace_s
    assert alerts[0].raised_at.timestamp() == at(17, 10) + grace

    # back on time: nothing at all
    returned = routine_rows(range(0, 14)) + routine_rows(range(17, 18))
    assert run(make_engine({HH: record}), returned, until=at(18, 0)) == []


def test_sos_raises_at_once_and_a_redelivery_changes_nothing() -> None:
    moment = datetime(2026, 3, 5, 3, 0, tzinfo=UTC)
    sos = SosEvent(household_id=HH, device_id="btn-1", cause=SosCause.BUTTON, event_time=moment,
                   receive_time=moment, source_format=SourceFormat.ANBU, idempotency_key="k1")
    alerts = run_backtest([sos, sos])
    assert len(alerts) == 1
    assert alerts[0].kind is AlertKind.SOS and alerts[0].severity is Severity.CRITICAL
    assert alerts[0].raised_at == moment
    assert "emergency button" in alerts[0].reason and "비상 버튼" in alerts[0].reason_ko


def _device_events(rows: list[Row]) -> list[DeviceEvent]:
    out = []
    for t, hh, dev, kind, value in rows:
        moment = datetime.fromtimestamp(t, UTC)
        out.append(DeviceEvent(household_id=hh, device_id=dev, kind=EventKind(kind), value=value,
                               event_time=moment, receive_time=moment,
                               source_format=SourceFormat.SIMULATOR,
                               idempotency_key=f"{hh}{dev}{t}"))
    return out


def test_duplicate_events_change_nothing() -> None:
    rows = routine_rows(range(0, 15), stop_at=at(14, 10))
    rows += [(at(3, 8), HH, "door-1", "door", 1.0), (at(3, 8.01), HH, "door-1", "door", 0.0)]
    rows += [(at(5, 9), HH, "plug-1", "power", 0.0), (at(5, 19), HH, "plug-1", "power", 90.0)]
    rows.sort(key=lambda r: r[0])
    once = _device_events(rows)
    twice = [e for e in once for _ in (0, 1)]
    a1 = run_backtest(once, until=datetime.fromtimestamp(at(16, 0), UTC))
    a2 = run_backtest(twice, until=datetime.fromtimestamp(at(16, 0), UTC))
    assert [a.model_dump() for a in a1] == [a.model_dump() for a in a2]
    assert kinds(a1) == [("inactivity_routine", "raise"), ("inactivity_routine", "update")]


def test_going_out_is_not_inactivity_and_a_long_outing_raises_not_back() -> None:
    rows = routine_rows(range(0, 15), stop_at=at(14, 10))
    rows += [(at(14, 10) + 30, HH, "door-1", "door", 1.0), (at(14, 10) + 60, HH, "door-1",
                                                            "door", 0.0)]
    engine = make_engine()
    alerts = run(engine, rows, until=at(14, 12.5))
    assert alerts == []  # out for a walk: the routine detector stays quiet
    later = engine.advance(at(15, 0))
    assert kinds(later) == [("not_back", "raise")]
    p = DetectorParams()
    # this resident's outings are not learned yet: a typical outing is assumed
    allowed = p.not_back_factor * p.long_outing_prior_s
    assert later[0].raised_at.timestamp() == at(14, 10) + 60 + allowed
    assert "not learned yet" in later[0].reason
    home = engine.observe(HH, "motion-1", "motion", 1.0, at(15, 1))
    assert home is not None and kinds(home) == [("not_back", "resolve")]


def _outing(leave: float, back: float, hh: str = HH) -> list[Row]:
    """Through the entrance door and back, with the door's open and close messages."""
    return [(leave, hh, "door-1", "door", 1.0), (leave + 10, hh, "door-1", "door", 0.0),
            (back, hh, "door-1", "door", 1.0), (back + 10, hh, "door-1", "door", 0.0),
            (back + 30, hh, "motion-1", "motion", 1.0)]


def test_the_usual_outing_is_learned_from_the_door_at_both_ends() -> None:
    # a resident out from 14:00 to 15:00 every day: their outings are learned to last an hour,
    # so a long one is noticed after max(floor, 2 x 1 h) rather than the cold-start allowance
    last = 35
    rows = [r for r in routine_rows(range(0, last + 1)) if not 14 <= datetime.fromtimestamp(
        r[0], SEOUL).hour < 15]
    for day in range(0, last):
        rows += _outing(at(day, 14), at(day, 15))
    rows += [(at(last, 14), HH, "door-1", "door", 1.0),
             (at(last, 14) + 10, HH, "door-1", "door", 0.0)]
    rows = [r for r in rows if r[0] < at(last, 14) + 20]
    engine = make_engine()
    alerts = run(engine, rows, until=at(last + 1, 0))
    assert kinds(alerts) == [("not_back", "raise")]
    usual = alerts[0].details["usual_out_s"]
    assert isinstance(usual, int) and 3500 <= usual <= 3700, alerts[0].reason
    p = DetectorParams()
    expected = at(last, 14) + 10 + max(p.not_back_floor_s, p.not_back_factor * usual)
    assert abs(alerts[0].raised_at.timestamp() - expected) <= p.not_back_factor * 1.0
    assert "9 in 10 of their outings end within 59 min" in alerts[0].reason


def test_appliances_switching_off_after_the_resident_left_do_not_bring_them_home() -> None:
    # kettle boiled, rice cooker cooking, then out: the kettle switches itself off and the
    # rice cooker drops to keep-warm while nobody is home. Neither is a person: the
    # household stays "out" (no inactivity alert), and the silence is not restarted.
    rows = routine_rows(range(0, 15), stop_at=at(14, 10))
    plug_start = at(0, 6)
    rows += [(plug_start, HH, "kettle", "power", 0.0), (plug_start, HH, "cooker", "power", 1.2)]
    rows += [(at(14, 9.9), HH, "kettle", "power", 1900.0),
             (at(14, 9.9), HH, "cooker", "power", 800.0)]
    rows += [(at(14, 10) + 30, HH, "door-1", "door", 1.0),
             (at(14, 10) + 40, HH, "door-1", "door", 0.0)]
    rows += [(at(14, 10) + 200, HH, "kettle", "power", 0.0),
             (at(14, 10.7), HH, "cooker", "power", 60.0)]
    engine = make_engine()
    alerts = run(engine, rows, until=at(14, 16))
    assert alerts == []  # out: neither inactivity_routine nor (yet) not_back
    assert engine.households[HH].last_activity == at(14, 10) + 40


def test_a_plug_switched_on_is_activity_when_motion_is_missing() -> None:
    # the kitchen motion sensor misses the resident; the kettle switched on still counts
    rows = routine_rows(range(0, 15), stop_at=at(14, 8))
    rows += [(at(0, 6), HH, "kettle", "power", 0.0), (at(14, 9), HH, "kettle", "power", 1900.0)]
    alerts = run(make_engine(params=RATES), rows, until=at(14, 12))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert [a.kind for a in raised] == [AlertKind.INACTIVITY_ROUTINE]
    # the silence counts from the kettle, not from the last movement at 08:00
    assert raised[0].raised_at.timestamp() >= at(14, 9) + RATES.routine_min_silence_s
    assert raised[0].details["last_activity"] == datetime.fromtimestamp(
        at(14, 9), UTC).isoformat()


def test_a_fridge_cycling_is_not_a_person() -> None:
    rows = routine_rows(range(0, 6), stop_at=at(5, 10))
    t = at(0, 0)
    while t < at(7, 0):  # on 20 minutes, off 40, around the clock
        rows += [(t, HH, "fridge", "power", 95.0), (t + 1200, HH, "fridge", "power", 2.0)]
        t += 3600
    alerts = run(make_engine(routine=False), rows)
    assert kinds(alerts) == [("inactivity", "raise")]
    assert alerts[0].raised_at.timestamp() == at(5, 9 + 50 / 60) + 24 * 3600


def test_a_kettle_switched_on_is_a_person() -> None:
    rows = routine_rows(range(0, 6), stop_at=at(5, 10))
    switched_on = [*rows, (at(0, 0), HH, "kettle", "power", 0.0),
                   (at(5, 18), HH, "kettle", "power", 1800.0)]
    alerts = run(make_engine(routine=False), switched_on, until=at(6, 17))
    assert alerts == []
    # positive control: the same kettle never switched on, the same silence is raised
    idle = [*rows, (at(0, 0), HH, "kettle", "power", 0.0)]
    alerts = run(make_engine(routine=False), idle, until=at(6, 17))
    assert kinds(alerts) == [("inactivity", "raise")]
    assert alerts[0].raised_at.timestamp() == at(5, 9 + 50 / 60) + 24 * 3600


def test_state_survives_a_pickle_round_trip() -> None:
    engine = make_engine()
    rows = routine_rows(range(0, 15), stop_at=at(14, 10), heartbeat_until=at(15, 0))
    run(engine, rows[: len(rows) // 2])
    restored = make_engine()
    restored.now = engine.now
    for h in engine.households.values():
        restored.adopt(pickle.loads(pickle.dumps(h)))
    rest = rows[len(rows) // 2 :]
    assert kinds(run(engine, rest)) == kinds(run(restored, rest)) == [
        ("inactivity_routine", "raise")
    ]


def test_deadlines_only_wake_households_that_are_due() -> None:
    engine = make_engine(routine=False)
    for i in range(2000):
        engine.observe(f"hh-{i}", "m", "motion", 1.0, at(0, 8) + i)
    engine.advance(at(0, 9))
    woken = []
    original = engine.households["hh-0"].__class__.wake

    def spy(self, now, p, health_now=None):
        woken.append(self.hid)
        return original(self, now, p, health_now)

    engine.households["hh-0"].__class__.wake = spy  # type: ignore[method-assign]
    try:
        alerts = engine.advance(at(1, 8) + 10.5)
    finally:
        engine.households["hh-0"].__class__.wake = original  # type: ignore[method-assign]
    assert len(alerts) == 11 and len(woken) == 11


def test_unreadable_saved_state_is_reported_and_the_household_starts_afresh(
    caplog: Any,
) -> None:
    from detectors.runtime import Runtime

    engine = make_engine()
    run(engine, routine_rows(range(0, 2)))
    good = pickle.dumps(engine.households[HH])
    rt = Runtime(DetectorParams(), partitions=4)
    assert rt.restore([(b"hh-1", good), (b"hh-2", b"\x80\x05garbage")]) == 1
    assert "hh-2" in caplog.text and "unreadable" in caplog.text


def test_silent_sensors_raise_health_alerts_and_hold_back_inactivity() -> None:
    from anbu.registry_records import DeviceRecord

    motion = DeviceRecord(device_id="motion-1", household_id=HH, kind="motion",
                          source_format=SourceFormat.ZIGBEE2MQTT, mqtt_topic="z/m1",
                          reporting_interval_s=6 * 3600)
    engine = make_engine(devices=[motion], routine=False)
    stop = at(2, 10)
    rows = routine_rows(range(0, 4), stop_at=stop, heartbeat_until=at(4, 1))
    rows += [(at(1, 9), HH, "motion-1", "battery", 9.0),
             (at(1, 12), HH, "motion-1", "battery", 80.0),
             # the sensor reports again (no motion) after 42 h of silence
             (at(4, 0) + 60, HH, "motion-1", "motion", 0.0)]
    rows += [(t + 86400 * 4, HH, "gw-1", "heartbeat", 1.0) for t in (at(0, 0) + 60 * m
                                                                    for m in range(0, 60, 5))]
    alerts = run(engine, rows)
    assert kinds(alerts) == [
        ("battery_low", "raise"), ("battery_low", "resolve"), ("device_silent", "raise"),
        ("device_silent", "resolve"), ("inactivity", "raise")]
    assert alerts[0].device_id == "motion-1" and alerts[0].severity is Severity.INFO
    silent = alerts[2]
    assert silent.device_id == "motion-1"
    assert silent.raised_at.timestamp() == at(2, 9 + 50 / 60) + 2 * 6 * 3600
    # while the only activity sensor was silent the household was blind: no inactivity
    # alert at 24 h; once it reports again, the silence that goes on is alerted promptly
    held = alerts[4]
    assert held.raised_at.timestamp() == at(4, 0) + 60 + DetectorParams().recovery_grace_s


def test_a_silent_sensor_makes_the_routine_check_wait_longer_and_say_why() -> None:
    # two motion sensors; the living-room one dies while the resident sits there: the
    # routine was learned with both, so it now expects only part of the usual activity
    from anbu.registry_records import DeviceRecord

    def sensor(device_id: str) -> DeviceRecord:
        return DeviceRecord(device_id=device_id, household_id=HH, kind="motion",
                            source_format=SourceFormat.ZIGBEE2MQTT, mqtt_topic=f"z/{device_id}",
                            reporting_interval_s=6 * 3600)

    p = RATES
    stop = at(14, 10)
    rows = routine_rows(range(0, 15), stop_at=stop, heartbeat_until=at(15, 0))
    rows.append((at(14, 8), HH, "motion-2", "availability", 0.0))  # reports itself offline
    engine = make_engine(devices=[sensor("motion-1"), sensor("motion-2")], params=p)
    alerts = run(engine, rows)
    raised = [a for a in alerts if a.kind is AlertKind.INACTIVITY_ROUTINE]
    assert kinds(raised) == [("inactivity_routine", "raise")]
    last = at(14, 9 + 50 / 60)
    # twice the minimum silence instead of 2 h (all sensors healthy: see the test above)
    assert raised[0].raised_at.timestamp() == last + p.partly_blind_factor * p.routine_min_silence_s
    assert raised[0].details["sensors_silent"] == 1
    assert "counting only 50% of the usual activity, as 1 sensor(s) are not reporting" in (
        raised[0].reason)
    assert "센서 1개가 보고하지 않아" in raised[0].reason_ko
    assert float(raised[0].details["probability"]) <= p.routine_threshold


def test_a_late_older_event_does_not_resolve_an_alert_about_a_later_silence() -> None:
    stop = at(14, 10)
    engine = make_engine()
    alerts = run(engine, routine_rows(range(0, 15), stop_at=stop, heartbeat_until=at(15, 0)))
    assert kinds(alerts) == [("inactivity_routine", "raise")]
    # a retried message from before the silence began arrives late: the silence goes on
    late = engine.observe(HH, "motion-1", "motion", 1.0, at(14, 9.5))
    assert not late
    assert "inactivity_routine" in (engine.households[HH].open or {})
    back = engine.observe(HH, "motion-1", "motion", 1.0, at(14, 13))
    assert back is not None and kinds(back) == [("inactivity_routine", "resolve")]


def test_a_fall_just_inside_the_door_after_coming_home_is_judged_as_at_home() -> None:
    # out at 10:00, back through the door at 10:30, then nothing moves: the homecoming
    # door is not a new departure, so the routine alert comes after its usual 2 h
    rows = routine_rows(range(0, 17), stop_at=at(16, 9.5), heartbeat_until=at(17, 0))
    for t, v in ((at(16, 10), 1.0), (at(16, 10) + 5, 0.0), (at(16, 10.5), 1.0),
                 (at(16, 10.5) + 5, 0.0)):
        rows.append((t, HH, "door-1", "door", v))
    alerts = run(make_engine(params=RATES), rows, until=at(16, 18))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert kinds(raised) == [("inactivity_routine", "raise")]
    assert raised[0].raised_at.timestamp() == at(16, 10.5) + 5 + RATES.routine_min_silence_s


def test_a_plug_does_not_close_not_back_and_the_fixed_rule_stays_the_backstop() -> None:
    # out through the door and never seen inside again; a kettle on a timer switches on in
    # the evening. The not_back alert stays open, and a day after the last activity the
    # fixed rule raises too (the resident may be home with the door message lost).
    rows = routine_rows(range(0, 15), stop_at=at(14, 10))
    rows += [(at(14, 10), HH, "door-1", "door", 1.0), (at(14, 10) + 10, HH, "door-1", "door", 0.0),
             (at(0, 6), HH, "kettle", "power", 0.0), (at(14, 20), HH, "kettle", "power", 1800.0)]
    alerts = run(make_engine(), rows, until=at(16, 0))
    assert kinds(alerts) == [("not_back", "raise"), ("inactivity", "raise")]
    assert alerts[1].raised_at.timestamp() == at(14, 20) + 24 * 3600


def test_a_bug_waking_one_household_loses_no_other_alert_and_it_is_tried_again(
    monkeypatch: Any,
) -> None:
    from detectors.household import Household

    wake = Household.wake
    failed: list[str] = []

    def failing_once(self: Household, now: float, p: DetectorParams,
                     health_now: float | None = None) -> Any:
        if self.hid == "hh-b" and now >= at(1, 8) and not failed:
            failed.append(self.hid)
            raise RuntimeError("a bug in one household")
        return wake(self, now, p, health_now)

    monkeypatch.setattr(Household, "wake", failing_once)
    engine = make_engine(routine=False)
    rows: list[Row] = [(at(0, 8), hh, "m", "motion", 1.0) for hh in ("hh-a", "hh-b")]
    rows += [(at(0, 9) + 300 * i, "hh-c", "gw", "heartbeat", 1.0) for i in range(12 * 30)]
    alerts = run(engine, rows)
    assert failed == ["hh-b"]
    raised = sorted(a.household_id for a in alerts if a.kind is AlertKind.INACTIVITY)
    assert raised == ["hh-a", "hh-b", "hh-c"]  # hh-b a minute late, nobody lost


def test_a_repeated_offline_message_keeps_one_device_silent_alert() -> None:
    from anbu.registry_records import DeviceRecord

    motion = DeviceRecord(device_id="motion-2", household_id=HH, kind="motion",
                          source_format=SourceFormat.ZIGBEE2MQTT, mqtt_topic="z/m2",
                          reporting_interval_s=6 * 3600)
    rows = [r for r in routine_rows(range(0, 2)) if r[0] < at(1, 10)]
    rows += [(at(0, 0) + 3600 * i, HH, "motion-2", "battery", 90.0) for i in range(32)]
    rows += [(at(1, 8) + 60 * i, HH, "motion-2", "availability", 0.0) for i in range(3)]
    rows.append((at(1, 9), HH, "motion-2", "availability", 1.0))
    alerts = run(make_engine(devices=[motion]), rows)
    health = [a for a in alerts if a.kind is AlertKind.DEVICE_SILENT]
    assert kinds(health) == [("device_silent", "raise"), ("device_silent", "resolve")]
    assert health[0].raised_at.timestamp() == at(1, 8)


def test_a_bug_on_one_event_of_a_record_loses_no_other_events_alert(
    monkeypatch: Any, caplog: Any,
) -> None:
    from detectors.household import Household
    from detectors.runtime import Runtime

    observe = Household.observe

    def failing_for_b(self: Household, kind: str, *args: Any) -> Any:
        if self.hid == "hh-b" and kind == "battery":
            raise RuntimeError("a bug in one household")
        return observe(self, kind, *args)

    monkeypatch.setattr(Household, "observe", failing_for_b)
    runtime = Runtime(DetectorParams(), 1, wall=lambda: 0.0)
    t = at(0, 8)
    alerts = runtime.apply_events(0, [
        (t, "hh-a", "b1", "battery", 5.0, None),
        (t + 1, "hh-b", "b2", "battery", 5.0, None),
        (t + 2, "hh-c", "b3", "battery", 5.0, None),
        (t + 3, "hh-b", "m", "motion", 1.0, None),
    ])
    assert [(a.household_id, a.kind) for a in alerts] == [
        ("hh-a", AlertKind.BATTERY_LOW), ("hh-c", AlertKind.BATTERY_LOW)]
    assert "battery event of household hh-b" in caplog.text
    assert runtime.states[0].engine.households["hh-b"].last_activity == t + 3


def test_a_gateway_never_heard_is_not_yet_seen_and_offline_only_after_it_was_heard() -> None:
    from anbu.registry_records import DeviceRecord

    engine = make_engine()
    engine.advance(at(0, 0))
    engine.apply_registry(GatewayRecord(gateway_id="gw-1", household_id=HH,
                                        mqtt_username="gw-1", heartbeat_interval_s=300))
    engine.apply_registry(DeviceRecord(device_id="motion-1", household_id=HH, kind="motion",
                                       source_format=SourceFormat.ZIGBEE2MQTT,
                                       mqtt_topic="z/m1", reporting_interval_s=6 * 3600))
    # registered, installed later: three hours without a heartbeat is "not yet seen", not
    # "silent since 1970-01-01 09:00"
    assert engine.advance(at(0, 3)) == []
    # positive control: once heard, the same gateway going silent raises on time
    assert engine.observe(HH, "gw-1", "heartbeat", 1.0, at(0, 4)) is None
    alerts = engine.advance(at(0, 5))
    assert kinds(alerts) == [("gateway_offline", "raise")]
    assert alerts[0].raised_at.timestamp() == at(0, 4) + 3 * 300
    assert "1970" not in alerts[0].reason
