"""The silences model (issue 13): this resident's quiet spells, judged in the core."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable

import pytest

from anbu.events import AlertAction, AlertKind
from config.sections import DetectorSettings
from detectors.backtest import Row, make_engine
from detectors.household import Household
from detectors.packing import pack, unpack
from detectors.params import DetectorParams
from detectors.silences import ROOM_SIZE, SIZE, Silences
from tests.kit.detector_rows import HH, at, kinds, routine_rows, run


def _napper(days: range, *, nap_today: bool = True) -> list[Row]:
    """Moves every 10 min 07:00-22:00, naps 13:00-15:00 on the couch mat (sensor 'couch')."""
    rows = routine_rows(days, nap=True, heartbeat_until=at(days.stop, 0))
    for day in days:
        if day == days.stop - 1 and not nap_today:
            continue
        rows.append((at(day, 12.9), HH, "couch", "presence", 1.0))
        rows.append((at(day, 15), HH, "couch", "presence", 0.0))
    return rows


def _model(engine_households: object) -> Silences:
    h = engine_households.get(HH)  # type: ignore[attr-defined]
    assert isinstance(h, Household) and isinstance(h.routine, Silences)
    return h.routine


def test_a_daily_nap_after_lunch_raises_nothing_and_the_same_silence_not_ended_does() -> None:
    # 16 days of naps, then the 17th day's nap: nothing at 14:30, nor when it ends at 15:00
    engine = make_engine()
    rows = [r for r in _napper(range(17)) if r[0] <= at(16, 15.5)]
    assert run(engine, rows, until=at(16, 15.5)) == []
    # positive control: the same nap that does not end (the mat stays occupied, nothing
    # moves) is raised, by the routine model and before the fixed 24 h rule
    engine = make_engine()
    rows = [r for r in _napper(range(17)) if r[0] <= at(16, 12.9) or r[3] == "heartbeat"]
    alerts = run(engine, rows, until=at(17, 0))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert [a.kind for a in raised] == [AlertKind.INACTIVITY_ROUTINE]
    assert raised[0].details["resting"] is True
    assert "on the bed or couch" in raised[0].reason and "침대나 소파" in raised[0].reason_ko
    last = at(16, 12 + 50 / 60)
    assert last + 2.5 * 3600 < raised[0].raised_at.timestamp() < last + 12 * 3600


def test_a_morning_silence_after_the_bathroom_raises_at_the_promised_time() -> None:
    p = DetectorParams()
    engine = make_engine(params=p)
    history = [r for r in _napper(range(17)) if r[0] < at(16, 9)]
    run(engine, [*history, (at(16, 9), HH, "motion-bathroom", "motion", 1.0)])
    # the model's promise for the silence from 09:00, not on the couch, as it begins
    promise = max(_model(engine.households).threshold(at(16, 9), False, p), p.silence_floor_s)
    rows = [r for r in _napper(range(17)) if r[3] == "heartbeat" and r[0] > at(16, 9)]
    alerts = run(engine, rows, until=at(17, 0))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert [a.kind for a in raised] == [AlertKind.INACTIVITY_ROUTINE]
    assert raised[0].raised_at.timestamp() == pytest.approx(at(16, 9) + promise, abs=1e-5)
    # faster than the afternoon nap's context allows, and far before the fixed rule
    assert promise < _model(engine.households).threshold(at(16, 12.9), True, p)
    assert promise <= 6 * 3600
    reason = raised[0].reason
    assert reason.startswith("quiet for ") and "since 2026-03-18 09:00" in reason
    assert "began between 09:00 and 12:00" in reason and "expected about once in" in reason
    assert "09:00 이후" in raised[0].reason_ko and "시에 시작한" in raised[0].reason_ko


def test_a_new_household_is_protected_from_day_3_and_not_before_a_day_is_learned() -> None:
    # three days of history, then silent from 09:50 on day 3: the routine model (its
    # population prior) raises within hours, not after the fixed 24 h
    rows = routine_rows(range(5), stop_at=at(3, 10), heartbeat_until=at(5, 0))
    alerts = run(make_engine(), rows, until=at(5, 0))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert raised[0].kind is AlertKind.INACTIVITY_ROUTINE
    assert raised[0].raised_at.timestamp() - at(3, 9 + 50 / 60) <= 8 * 3600
    # ... and a normal night on day 3 raised nothing before
    assert all(a.raised_at.timestamp() > at(3, 10) for a in raised)
    # negative control: with less than a day learned (13 h) only the fixed rule applies
    rows = routine_rows(range(2), stop_at=at(0, 20), heartbeat_until=at(2, 0))
    alerts = run(make_engine(), rows, until=at(2, 0))
    assert kinds(alerts) == [("inactivity", "raise")]
    assert alerts[0].raised_at.timestamp() == at(0, 19 + 50 / 60) + 24 * 3600


def _outings(days: int, last_out_h: float, usual_h: float = 1.0) -> list[Row]:
    """Out through the entrance door from 10:00 for usual_h every day, last_out_h the last."""
    rows = routine_rows(range(days), heartbeat_until=at(days, 0))
    for day in range(days):
        length = last_out_h if day == days - 1 else usual_h
        back = at(day, 10 + length)
        rows = [r for r in rows if r[3] == "heartbeat" or not at(day, 10) <= r[0] < back]
        for t in (at(day, 10), back):
            rows += [(t, HH, "front", "door", 1.0), (t + 5, HH, "front", "door", 0.0)]
    return rows


def test_an_outing_of_usual_length_raises_nothing_and_three_times_usual_raises_not_back() -> None:
    usual = run(make_engine(), _outings(31, 1.0), until=at(31, 0))
    assert usual == []
    long = run(make_engine(), _outings(31, 3 + 1 / 6), until=at(31, 0))  # 3 h 10 min
    raised = [a for a in long if a.action is AlertAction.RAISE]
    assert [a.kind for a in raised] == [AlertKind.NOT_BACK]
    assert raised[0].raised_at.timestamp() == at(30, 10) + 5 + 3 * 3600
    assert "9 in 10 of their outings end within 59 min" in raised[0].reason  # learned: 1 h
    assert raised[0].details["usual_out_s"] == 3595


def test_a_direct_to_worker_home_waits_longer_before_not_back() -> None:
    # 2-hour outings every day; the last one lasts 5 h
    default = run(make_engine(), _outings(31, 5.0, usual_h=2.0), until=at(31, 0))
    raised = [a for a in default if a.action is AlertAction.RAISE]
    assert [a.kind for a in raised] == [AlertKind.NOT_BACK]  # positive control: 2 x usual
    assert raised[0].raised_at.timestamp() == pytest.approx(at(30, 10) + 5 + 2 * 7195, abs=1)
    # at the direct-to-worker budget (1 a 100 days) not_back waits 1.54 times as long: the
    # 5-hour outing is ordinary life there ...
    direct = DetectorParams().with_budget(1.0)
    assert direct.not_back_factor == pytest.approx(2.0 * 2 / math.log10(20))
    assert run(make_engine(params=direct), _outings(31, 5.0, usual_h=2.0), until=at(31, 0)) == []
    # ... and one of 7 hours is still raised, after 3.07 x usual
    alerts = run(make_engine(params=direct), _outings(31, 7.0, usual_h=2.0), until=at(31, 0))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert [a.kind for a in raised] == [AlertKind.NOT_BACK]
    assert raised[0].raised_at.timestamp() == pytest.approx(
        at(30, 10) + 5 + direct.not_back_factor * 7195, abs=1)
    # the settings give the same factor
    s = DetectorSettings(alert_budget=1.0)
    assert DetectorParams.from_settings(s).not_back_factor == pytest.approx(
        direct.not_back_factor)
    assert DetectorParams.from_settings(DetectorSettings()).not_back_factor == 2.0


def _kitchen_and_couch(days: int) -> list[Row]:
    """Moves every 10 min 07:00-22:00 in the kitchen, quiet 10:00-11:30 and 15:00-16:30.

    The quiet spells begin after the living-room sensor. Heartbeats every 5 min to the end.
    """
    rows: list[Row] = []
    for t, hh, dev, kind, value in routine_rows(range(days), heartbeat_until=at(days, 0)):
        hour = (t - at(0, 0)) / 3600 % 24
        if kind == "heartbeat":
            rows.append((t, hh, dev, kind, value))
        elif hour in (10.0, 15.0):
            rows.append((t, hh, "motion-living", kind, value))
        elif not (10 < hour < 11.5 or 15 < hour < 16.5):
            rows.append((t, hh, "motion-kitchen", kind, value))
    return rows


def _raised_after(room: str, p: DetectorParams,
                  life: Callable[[int], list[Row]] = _kitchen_and_couch) -> float:
    """Hours to the alert of a silence from 10:00 on day 16 that began after ``room``."""
    engine = make_engine(params=p)
    rows = [r for r in life(17) if r[0] < at(16, 10) or r[3] == "heartbeat"]
    rows.append((at(16, 10), HH, room, "motion", 1.0))
    alerts = run(engine, rows, until=at(17, 12))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert raised and raised[0].kind is AlertKind.INACTIVITY_ROUTINE
    return (raised[0].raised_at.timestamp() - at(16, 10)) / 3600


def test_the_room_of_the_last_activity_speeds_a_silence_after_a_room_passed_through() -> None:
    rooms = DetectorParams(silence_room_prior=3.0)
    kitchen = _raised_after("motion-kitchen", rooms)
    living = _raised_after("motion-living", rooms)
    # where the resident only passes, a silence is judged sooner than where they settle
    assert kitchen < living - 0.5
    # and its quiet spells after the couch are not an alert at the usual 1.5 h either way
    assert kitchen > 1.5
    # the setting off: the room changes nothing
    off = DetectorParams(silence_room_prior=0.0)
    assert _raised_after("motion-kitchen", off) == _raised_after("motion-living", off)
    # a new home's rooms are unknown: judged by the context alone until silences are seen
    fresh = Silences()
    fresh.seen_in("motion-kitchen")
    assert fresh.room_factors(at(0, 10), False, rooms) == (1.0, 1.0)


def _short_kitchen_spells(days: int) -> list[Row]:
    """As :func:`_kitchen_and_couch`, and quiet 12:30-13:15 daily after the kitchen sensor.

    The kitchen then begins silences of its own, all short: its length ratio is below 1.
    """
    return [r for r in _kitchen_and_couch(days)
            if r[3] == "heartbeat" or not 12.5 < (r[0] - at(0, 0)) / 3600 % 24 < 13.25]


def test_the_room_floor_keeps_a_kitchen_visit_from_shortening_a_threshold_too_far() -> None:
    rows = [r for r in _short_kitchen_spells(17) if r[0] < at(16, 10)]
    start = at(16, 10)
    room = DetectorParams(silence_room_prior=1.0, silence_room_floor=0.0)
    floored = DetectorParams(silence_room_prior=1.0, silence_room_floor=1.0)
    engine = make_engine(params=room)
    run(engine, [*rows, (start, HH, "motion-kitchen", "motion", 1.0)])
    model = _model(engine.households)
    rate, length = model.room_factors(start, False, room)
    assert rate < 1.0 and length < 0.8  # the kitchen: passed through, its spells short
    _, mu, lam = model.fit(start, False, room)
    beta = room.alert_budget / 16
    # the floor: the home's own spell lengths (mu / length) at the kitchen's rate would cross
    # the threshold at most once in 1 / beta days
    floor = room.silence_min_s + (mu / length) * math.log(lam / beta) * 3600
    assert model.threshold(start, False, floored) == pytest.approx(floor, rel=1e-6)
    # positive control: without the floor the kitchen's short spells set a shorter threshold
    assert model.threshold(start, False, room) < floor - 1800
    # the default floor (4 budgets) lies in between, and a room with long spells is not floored
    between = DetectorParams()
    assert (between.silence_room_prior, between.silence_room_floor) == (1.0, 4.0)
    assert model.threshold(start, False, room) < model.threshold(start, False, between) < floor
    model.seen_in("motion-living")
    assert model.room_factors(start, False, room)[1] > 1.0
    assert model.threshold(start, False, floored) == model.threshold(start, False, room)
    # the engine raises at the floored threshold, and still sooner after the kitchen than
    # after the living room's sensor where the resident settles
    kitchen = _raised_after("motion-kitchen", floored, _short_kitchen_spells)
    assert kitchen == pytest.approx(floor / 3600, abs=1e-6)
    assert _raised_after("motion-kitchen", room, _short_kitchen_spells) < kitchen - 0.5
    assert kitchen < _raised_after("motion-living", floored, _short_kitchen_spells)
    # the reason's "expected about once in N days" at the floored threshold is the floor's
    # figure (1 / beta days at floor 1), not the kitchen's own, rarer, reading
    model.seen_in("motion-kitchen")
    assert model.expected_days(start, False, floor, floored) == pytest.approx(1 / beta, rel=1e-6)
    assert model.expected_days(start, False, floor, room) > 2 / beta  # the kitchen's own
    # the setting reaches the core
    assert DetectorParams.from_settings(
        DetectorSettings(silence_room_floor=2.0)).silence_room_floor == 2.0


def test_the_rooms_are_kept_when_a_household_is_packed_and_cost_nothing_when_off() -> None:
    rooms = DetectorParams(silence_room_prior=3.0)
    engine = make_engine(params=rooms)
    run(engine, _kitchen_and_couch(17))
    h = engine.households.get(HH)
    assert isinstance(h, Household) and isinstance(h.routine, Silences)
    model = h.routine
    factors = model.room_factors(at(17, 10), False, rooms)
    # the kitchen: passed through (no silence began there, so their length is the average)
    assert factors[0] < 0.2 and factors[1] == pytest.approx(1.0)
    back = unpack(HH, pack(h)).routine
    assert isinstance(back, Silences) and back.tobytes() == model.tobytes()
    assert back.room_factors(at(17, 10), False, rooms) == factors
    assert pickle.loads(pickle.dumps(model)).tobytes() == model.tobytes()
    # the worker's path (observe_events) notes the rooms as the backtest's does
    worker = make_engine(params=rooms)
    rows = sorted(_kitchen_and_couch(17), key=lambda r: r[0])
    worker.observe_events([(t, hh, dev, kind, value, None) for t, hh, dev, kind, value in rows])
    same = worker.households.get(HH)
    assert isinstance(same, Household) and isinstance(same.routine, Silences)
    assert same.routine.tobytes() == model.tobytes()
    # the setting off: no room floats at all (the packed household is 196 bytes smaller)
    off = make_engine(params=DetectorParams(silence_room_prior=0.0))
    run(off, _kitchen_and_couch(17))
    plain = off.households.get(HH)
    assert isinstance(plain, Household) and isinstance(plain.routine, Silences)
    assert len(plain.routine) == SIZE and len(model) == ROOM_SIZE
    assert len(pack(h)) - len(pack(plain)) == 4 * (ROOM_SIZE - SIZE) == 196
