"""bench.frontier: the trade-off of the alert budget and the floor under it, on made logs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from anbu.timeutil import SEOUL
from bench import frontier, quality_real

START = datetime(2026, 3, 2, tzinfo=SEOUL)


def _write_log(path: Path, quiet_hour: list[int], days: int = 24, quiet_h: float = 2.0
               ) -> None:
    """A resident who moves every 10 min from 07:00 to 22:00 (heartbeats hourly).

    On day ``d`` < len(quiet_hour), a ``quiet_h`` silence from ``quiet_hour[d]``:00 on.
    """
    lines = []
    t = START
    while t < START + timedelta(days=days):
        day = (t - START).days
        minute = t.hour * 60 + t.minute
        if t.minute == 0:
            lines.append((t, "hh-gw", "heartbeat"))
        quiet = day < len(quiet_hour) and 0 < minute - quiet_hour[day] * 60 < quiet_h * 60
        if 7 * 60 <= minute <= 22 * 60 and minute % 10 == 0 and not quiet:
            lines.append((t, "pir-kitchen" if minute % 20 else "pir-living", "motion"))
        t += timedelta(minutes=1)
    with path.open("w") as handle:
        handle.write("timestamp,household_id,device_id,kind,value\n")
        for when, dev, kind in lines:
            handle.write(f"{when.isoformat()},hh,{dev},{kind},1\n")


@pytest.mark.parametrize("spread", [True, False])
def test_the_floor_counts_long_silences_and_the_hours_that_must_bear_them(
    tmp_path: Path, spread: bool
) -> None:
    # twelve 2 h silences: one in each daytime hour 08-19, or all at 14:00
    hours = list(range(8, 20)) if spread else [14] * 12
    _write_log(tmp_path / "made.csv", hours)
    (home,) = quality_real.load_homes(tmp_path)
    moments = frontier.active_silences(home)
    assert frontier.long_count(moments, 1.5) == 12
    assert frontier.long_count(moments, 4.0) == 0
    entry = frontier.floor(tmp_path)["made"]["1.5h"]
    bound = entry["counts"]["bound"]
    if spread:
        # every hour holds one: whichever half of the moments gets the short threshold
        # holds about half of them
        assert 5.0 <= bound <= 7.0
    else:
        # all at 14:00: half of the moments lie in other hours, so nothing need be raised
        assert bound == 0.0
    assert entry["long_silences_per_100_days"] == pytest.approx(100 * 12 / 24, abs=0.1)


def test_a_larger_budget_buys_speed_with_false_alarms(tmp_path: Path) -> None:
    # a 4 h silence every third day, at a different hour each time
    _write_log(tmp_path / "made.csv", [8 + d % 12 if d % 3 == 0 else -9 for d in range(24)],
               quiet_h=4.0)
    low, high = frontier.tradeoff(tmp_path, [1.0, 100.0])
    assert high["day14_median_h"] < low["day14_median_h"]
    assert high["false_alarms_per_100_days"] > low["false_alarms_per_100_days"]
    text = frontier.report([low, high], frontier.floor(tmp_path))
    assert "hour-bound" in text and "made" in text and "pooled" in text
