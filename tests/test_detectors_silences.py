"""The silences model (issue 13): this resident's quiet spells, judged in the core."""

from __future__ import annotations

import pytest

from anbu.events import AlertAction, AlertKind
from detectors.backtest import Row, make_engine
from detectors.household import Household
from detectors.params import DetectorParams
from detectors.silences import Silences
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


def test_a_new_household_is_protected_from_day_3_and_not_before() -> None:
    # three days of history, then silent from 09:50 on day 3: the routine model (its
    # population prior) raises within hours, not after the fixed 24 h
    rows = routine_rows(range(5), stop_at=at(3, 10), heartbeat_until=at(5, 0))
    alerts = run(make_engine(), rows, until=at(5, 0))
    raised = [a for a in alerts if a.action is AlertAction.RAISE]
    assert raised[0].kind is AlertKind.INACTIVITY_ROUTINE
    assert raised[0].raised_at.timestamp() - at(3, 9 + 50 / 60) <= 8 * 3600
    # ... and a normal night on day 3 raised nothing before
    assert all(a.raised_at.timestamp() > at(3, 10) for a in raised)
    # negative control: with two days of history only the fixed rule applies
    rows = routine_rows(range(4), stop_at=at(2, 10), heartbeat_until=at(4, 0))
    alerts = run(make_engine(), rows, until=at(4, 0))
    assert kinds(alerts) == [("inactivity", "raise")]
    assert alerts[0].raised_at.timestamp() == at(2, 9 + 50 / 60) + 24 * 3600


def _outings(days: int, last_out_h: float) -> list[Row]:
    """Out through the entrance door 10:00-11:00 every day; on the last day for last_out_h."""
    rows = [r for r in routine_rows(range(days), heartbeat_until=at(days, 0))
            if r[3] == "heartbeat" or not (10 <= (r[0] - at(0, 0)) / 3600 % 24 < 11)]
    for day in range(days):
        length = last_out_h if day == days - 1 else 1.0
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
