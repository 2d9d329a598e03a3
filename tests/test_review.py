"""The weekly review core: declines ranked first with their reasons; absences are not declines."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from anbu.cli import build_app
from anbu.timeutil import SEOUL
from detectors.review import Judgement, Review, review_rows, week_label, week_of
from tests.kit.review_rows import (
    DAY,
    HOUR,
    MONDAY,
    WEEKS,
    Row,
    day_rows,
    heartbeats,
    trip_week,
    weeks,
)


def _replay(rows: Iterable[Row]) -> Review:
    return review_rows(sorted(rows, key=lambda r: r[0]))


def _last(review: Review, hid: str) -> Judgement:
    week = week_of(MONDAY) + WEEKS - 1
    return next(j for j in review.ranked(week) if j.household_id == hid)


def test_going_out_less_ranks_first_with_the_reason_in_both_languages() -> None:
    review = _replay(weeks("steady", 5) + weeks("withdrawn", 1))
    plan = review.ranked(week_of(MONDAY) + WEEKS - 1)
    assert [j.household_id for j in plan] == ["withdrawn", "steady"]
    withdrawn, steady = plan
    assert withdrawn.declined and withdrawn.stats.out_days == 1
    assert "went out on 1 day this week, usually 5" in [r.en for r in withdrawn.reasons]
    assert "이번 주 외출 1일, 평소 5일" in [r.ko for r in withdrawn.reasons]
    # the control: the same life, going out as usual, is not on the plan
    assert not steady.declined and steady.score == 0.0
    assert [r.en for r in steady.reasons] == ["as usual"]


def test_a_trip_ending_with_the_entrance_door_is_an_absence_not_a_decline() -> None:
    review = _replay(trip_week("trip", door=True, sensors_heard=True))
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
    review = _replay(trip_week("still", door=False, sensors_heard=True))
    still = _last(review, "still")
    assert still.stats.away == 0 and still.stats.home_days == 7
    assert still.declined
    assert any("less than usual" in r.en for r in still.reasons)
    # and with nothing but heartbeats (a stopped recorder or a trip): an absence
    review = _replay(trip_week("unheard", door=False, sensors_heard=False))
    unheard = _last(review, "unheard")
    assert unheard.stats.away >= 4 and not unheard.declined


def test_a_gradual_decline_without_any_absence_is_flagged() -> None:
    rows = heartbeats("fading", WEEKS * 7)
    for day in range(WEEKS * 7):
        week, weekday = divmod(day, 7)
        outings = max(0, 5 - max(0, week - 4) * 2)  # 5, 5, 5, 5, 5, 3, 1, 0, 0
        rows += day_rows("fading", day, out=weekday < outings)
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


def test_weeks_are_seoulweeks() -> None:
    sunday_late = datetime(2026, 1, 11, 23, 59, tzinfo=SEOUL).timestamp()
    assert week_of(sunday_late) == week_of(MONDAY)
    assert week_of(sunday_late + 120) == week_of(MONDAY) + 1
    assert week_label(week_of(MONDAY)) == "2026-W02"


def test_anbu_review_prints_and_exports_the_visit_plan(tmp_path: Path) -> None:
    rows = sorted(weeks("steady", 5) + weeks("withdrawn", 1), key=lambda r: r[0])
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
    rows = sorted(weeks("steady", 5) + weeks("withdrawn", 1), key=lambda r: r[0])
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
