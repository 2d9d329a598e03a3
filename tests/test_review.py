"""The weekly review core: declines ranked first with their reasons; absences are not declines."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from anbu.cli import build_app
from anbu.timeutil import SEOUL
from detectors.review import Judgement, Review, review_rows, week_label, week_of

Row = tuple[float, str, str, str, float]
DAY = 86400.0
HOUR = 3600.0
MONDAY = datetime(2026, 1, 5, tzinfo=SEOUL).timestamp()
WEEKS = 9


def _day(hid: str, day: int, *, out: bool, quiet: bool = False, door: bool = True) -> list[Row]:
    """One day: moving about 07-22 h every 10 min, an outing 10-12 h on ``out`` days.

    ``quiet``: nobody moves (a trip's day, or a day lying still at home).
    """
    base = MONDAY + day * DAY
    rows: list[Row] = []
    if quiet:
        return rows
    for minute in range(7 * 60, 22 * 60, 10):
        t = base + minute * 60
        if out and 10 * HOUR <= t - base < 12 * HOUR:
            continue
        rows.append((t, hid, f"{hid}-motion", "motion", 1.0))
        rows.append((t + 90, hid, f"{hid}-motion", "motion", 0.0))
    rows.append((base + 2.5 * HOUR, hid, f"{hid}-motion", "motion", 1.0))  # a night visit
    if out and door:
        rows.append((base + 10 * HOUR, hid, f"{hid}-door", "door", 1.0))
        rows.append((base + 10 * HOUR + 20, hid, f"{hid}-door", "door", 0.0))
        rows.append((base + 12 * HOUR, hid, f"{hid}-door", "door", 1.0))
        rows.append((base + 12 * HOUR + 20, hid, f"{hid}-door", "door", 0.0))
    return rows


def _heartbeats(hid: str, days: int) -> list[Row]:
    return [(MONDAY + h * HOUR, hid, f"{hid}-gw", "heartbeat", 1.0) for h in range(days * 24)]


def _weeks(hid: str, outings_last: int, *, usual: int = 5) -> list[Row]:
    """``WEEKS`` weeks going out ``usual`` days a week, the last one ``outings_last``."""
    rows = _heartbeats(hid, WEEKS * 7)
    for day in range(WEEKS * 7):
        week, weekday = divmod(day, 7)
        outings = outings_last if week == WEEKS - 1 else usual
        rows += _day(hid, day, out=weekday < outings)
    return rows


def _replay(rows: Iterable[Row]) -> Review:
    return review_rows(sorted(rows, key=lambda r: r[0]))


def _last(review: Review, hid: str) -> Judgement:
    week = week_of(MONDAY) + WEEKS - 1
    return next(j for j in review.ranked(week) if j.household_id == hid)


def test_going_out_less_ranks_first_with_the_reason_in_both_languages() -> None:
    review = _replay(_weeks("steady", 5) + _weeks("withdrawn", 1))
    plan = review.ranked(week_of(MONDAY) + WEEKS - 1)
    assert [j.household_id for j in plan] == ["withdrawn", "steady"]
    withdrawn, steady = plan
    assert withdrawn.declined and withdrawn.stats.out_days == 1
    assert "went out on 1 day this week, usually 5" in [r.en for r in withdrawn.reasons]
    assert "이번 주 외출 1일, 평소 5일" in [r.ko for r in withdrawn.reasons]
    # the control: the same life, going out as usual, is not on the plan
    assert not steady.declined and steady.score == 0.0
    assert [r.en for r in steady.reasons] == ["as usual"]


def _trip_week(hid: str, *, door: bool, sensors_heard: bool) -> list[Row]:
    """Eight usual weeks, then a last week with four quiet days (Tue-Fri).

    ``door``: they leave through the entrance door on Monday and come back through it on
    Saturday (a trip). ``sensors_heard``: a battery report every hour through the quiet days
    (the home's sensors run while nobody moves: someone lying still at home).
    """
    rows = _heartbeats(hid, WEEKS * 7)
    last = (WEEKS - 1) * 7
    for day in range(WEEKS * 7):
        weekday = day % 7
        if day < last:
            rows += _day(hid, day, out=weekday < 5)
        elif last + 1 <= day <= last + 4:
            rows += _day(hid, day, out=False, quiet=True)
        elif day == last:  # Monday: leave at 10:00 (through the door or not), no return
            rows += [r for r in _day(hid, day, out=False) if r[0] < MONDAY + day * DAY + 10 * HOUR]
            if door:
                rows.append((MONDAY + day * DAY + 10 * HOUR, hid, f"{hid}-door", "door", 1.0))
                rows.append((MONDAY + day * DAY + 10 * HOUR + 20, hid, f"{hid}-door", "door", 0.0))
        else:
            saturday = MONDAY + (last + 5) * DAY
            if day == last + 5:
                if door:
                    rows.append((saturday + 6 * HOUR, hid, f"{hid}-door", "door", 1.0))
                # home on Saturday morning: nothing moves before then
                rows += [r for r in _day(hid, day, out=False) if r[0] > saturday + 6 * HOUR]
            else:
                rows += _day(hid, day, out=False)
    if sensors_heard:
        quiet = MONDAY + last * DAY + 11 * HOUR
        rows += [(quiet + h * HOUR, hid, f"{hid}-motion", "battery", 80.0) for h in range(100)]
    return rows


def test_a_trip_ending_with_the_entrance_door_is_an_absence_not_a_decline() -> None:
    review = _replay(_trip_week("trip", door=True, sensors_heard=True))
    trip = _last(review, "trip")
    assert trip.stats.away >= 4
    assert not trip.declined
    assert trip.reasons[0].en.startswith("away ")
    assert "back through the entrance door" in trip.reasons[0].en
    assert "현관문으로 귀가" in trip.reasons[0].ko
    assert trip.stats.absences and trip.stats.absences[-1][2]  # ended with the door
    # Saturday and Sunday at home (Monday is mostly away), and no outing on either: the
    # door of the homecoming is not a departure
    assert trip.stats.home_days == 2 and trip.stats.out_days == 0


def test_the_same_quiet_days_at_home_are_a_decline() -> None:
    # positive control: no door, and the home's sensors heard all along: not an absence
    review = _replay(_trip_week("still", door=False, sensors_heard=True))
    still = _last(review, "still")
    assert still.stats.away == 0 and still.stats.home_days == 7
    assert still.declined
    assert any("less than usual" in r.en for r in still.reasons)
    # and with nothing but heartbeats (a stopped recorder or a trip): an absence
    review = _replay(_trip_week("unheard", door=False, sensors_heard=False))
    unheard = _last(review, "unheard")
    assert unheard.stats.away >= 4 and not unheard.declined


def test_a_gradual_decline_without_any_absence_is_flagged() -> None:
    rows = _heartbeats("fading", WEEKS * 7)
    for day in range(WEEKS * 7):
        week, weekday = divmod(day, 7)
        outings = max(0, 5 - max(0, week - 4) * 2)  # 5, 5, 5, 5, 5, 3, 1, 0, 0
        rows += _day("fading", day, out=weekday < outings)
    fading = _last(_replay(rows), "fading")
    assert fading.declined and fading.stats.away == 0
    out = next(r for r in fading.reasons if r.en.startswith("went out on 0 days this week"))
    # no door this week and nothing else from its sensor either: it may be the sensor
    assert out.en.endswith("(the entrance door's sensor sent nothing this week: check it)")
    assert "센서 점검" in out.ko
    # a door sensor that reports its battery daily is alive: the resident stayed in
    battery = [
        (MONDAY + d * DAY + 3 * HOUR, "fading", "fading-door", "battery", 90.0)
        for d in range(WEEKS * 7)
    ]
    fading = _last(_replay(rows + battery), "fading")
    out = next(r for r in fading.reasons if r.en.startswith("went out on 0 days this week"))
    assert out.en == "went out on 0 days this week, usually 5"


def test_weeks_are_seoul_weeks() -> None:
    sunday_late = datetime(2026, 1, 11, 23, 59, tzinfo=SEOUL).timestamp()
    assert week_of(sunday_late) == week_of(MONDAY)
    assert week_of(sunday_late + 120) == week_of(MONDAY) + 1
    assert week_label(week_of(MONDAY)) == "2026-W02"


def test_anbu_review_prints_and_exports_the_visit_plan(tmp_path: Path) -> None:
    rows = sorted(_weeks("steady", 5) + _weeks("withdrawn", 1), key=lambda r: r[0])
    events = tmp_path / "events.csv"
    with events.open("w") as handle:
        handle.write("timestamp,household_id,device_id,kind,value\n")
        for t, hid, dev, kind, value in rows:
            handle.write(f"{t},{hid},{dev},{kind},{value}\n")
    week = week_label(week_of(MONDAY) + WEEKS - 1)
    out = tmp_path / "plan.csv"
    argv = ["review", "--events", str(events), "--week", week, "--csv", str(out)]
    result = CliRunner().invoke(build_app(argv), argv)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"주간 점검 {week}")
    assert "withdrawn" in lines[1] and "이번 주 외출 1일, 평소 5일" in lines[1]
    assert "steady" in lines[2]
    exported = out.read_text(encoding="utf-8-sig").splitlines()
    assert exported[0].startswith("순위,")
    assert exported[1].startswith("1,withdrawn,방문,")
    argv = ["review", "--events", str(events), "--week", week, "--lang", "en"]
    result = CliRunner().invoke(build_app(argv), argv)
    assert "went out on 1 day this week, usually 5" in result.output.splitlines()[1]
    argv = ["review", "--events", str(events), "--week", "2026-W99"]
    assert CliRunner().invoke(build_app(argv), argv).exit_code == 2



def test_anbu_review_plans_one_center(tmp_path: Path) -> None:
    rows = sorted(_weeks("steady", 5) + _weeks("withdrawn", 1), key=lambda r: r[0])
    events = tmp_path / "events.csv"
    events.write_text(
        "timestamp,household_id,device_id,kind,value\n"
        + "".join(f"{t},{hid},{dev},{kind},{value}\n" for t, hid, dev, kind, value in rows)
    )
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "steady: {care_center_id: center-a}\nwithdrawn: {care_center_id: center-b}\n"
    )
    week = week_label(week_of(MONDAY) + WEEKS - 1)
    plans = {}
    for center in ("center-a", "center-b"):
        argv = ["review", "--events", str(events), "--week", week, "--lang", "en",
                "--registry", str(registry), "--center", center]
        result = CliRunner().invoke(build_app(argv), argv)
        assert result.exit_code == 0, result.output
        plans[center] = result.output.splitlines()
    assert plans["center-a"][0].startswith("center-a: Weekly review")
    assert len(plans["center-a"]) == 2 and "steady" in plans["center-a"][1]
    assert len(plans["center-b"]) == 2 and "withdrawn" in plans["center-b"][1]
    argv = ["review", "--events", str(events), "--center", "center-a"]
    assert CliRunner().invoke(build_app(argv), argv).exit_code == 2
