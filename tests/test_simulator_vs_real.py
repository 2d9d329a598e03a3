"""``anbu bench realism``: the statistics that compare simulated lives with real logs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from anbu.timeutil import SEOUL
from bench.realism import HOUR, activity, figures, home_lives, real_lives

DAY0 = datetime(2026, 1, 5, tzinfo=SEOUL)  # a Monday

# One resident over four days, written as (day, "HH:MM:SS", device, kind, value).
LIFE = [
    (0, "07:00:00", "m-kitchen", "motion", 1),
    (0, "07:00:30", "m-kitchen", "motion", 0),  # the sensor clearing: not activity
    (0, "07:10:00", "m-kitchen", "motion", 1),
    (0, "07:20:00", "p-kettle", "power", 0),  # first report: nothing to compare with
    (0, "07:21:00", "p-kettle", "power", 1800),  # switched on: activity
    (0, "07:25:00", "p-kettle", "power", 0),  # switched itself off: not activity
    (0, "09:00:00", "door", "door", 1),
    (0, "09:00:10", "door", "door", 0),  # leaves: an outing until 11:30
    (0, "11:30:00", "door", "door", 1),
    (0, "11:30:05", "door", "door", 0),
    (0, "11:30:05", "door", "door", 0),  # repeated report: not activity
    (0, "11:35:00", "m-living", "motion", 1),
    (0, "12:10:00", "m-living", "motion", 1),  # 3.5 h still in the afternoon
    (0, "15:40:00", "m-living", "motion", 1),  # then 2 h 20 min
    (0, "18:00:00", "m-kitchen", "motion", 1),  # then 4 h in the evening
    (0, "22:00:00", "bed", "presence", 1),  # asleep until a toilet visit at 02:00
    (1, "02:00:00", "m-bath", "motion", 1),
    (1, "02:05:00", "m-bath", "motion", 1),  # asleep again until 06:30
    (1, "06:30:00", "m-kitchen", "motion", 1),  # then away for two days
    (3, "07:00:00", "m-kitchen", "motion", 1),
]


def _rows() -> list[tuple[float, str, str, str, float]]:
    rows = []
    for day, clock, device, kind, value in LIFE:
        hh, mm, ss = (int(x) for x in clock.split(":"))
        moment = DAY0 + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)
        rows.append((moment.timestamp(), "t1", device, kind, float(value)))
    # Hourly heartbeats through the whole span are never activity.
    for hour in range(4 * 24):
        rows.append(((DAY0 + timedelta(hours=hour)).timestamp(), "t1", "gw", "heartbeat", 1.0))
    return rows


def test_activity_follows_the_detectors_rules() -> None:
    events = activity(_rows())
    kinds = [(dev, kind) for _, dev, kind in events]
    # 20 rows of life: minus the motion clearing, the plug's first report and its fall,
    # and the repeated door report.
    assert len(events) == 16
    assert kinds.count(("p-kettle", "power")) == 1
    assert kinds.count(("door", "door")) == 4
    assert not [k for k in kinds if k[1] == "heartbeat"]


def test_silences_outings_nights_and_absences_of_one_life() -> None:
    lives = home_lives(_rows())
    assert lives.days == 3  # days 0, 1 and 3
    assert lives.absences == 1  # 06:30 on day 1 to 07:00 on day 3
    assert lives.outings == [pytest.approx(2.5 * HOUR - 10)]
    afternoon = sorted(s for h, s in lives.silences if 12 <= h < 18)
    assert afternoon == [pytest.approx((2 + 20 / 60) * HOUR), pytest.approx(3.5 * HOUR)]
    # The night of day 0: the longest silence starting 20:00-06:00 is 02:05-06:30.
    assert lives.nights == [pytest.approx((4 + 25 / 60) * HOUR)]
    # Day 0's longest daytime stretch at home is the 3.5 h afternoon (the outing is not at
    # home); day 1's is 08:00-20:00 inside the absence: not at home either.
    assert lives.day_longest[0] == pytest.approx(3.5 * HOUR)
    assert lives.day_longest[1] == 0.0
    stats = figures(lives)
    assert stats["afternoon"]["share_over_2h"] == 1.0
    assert stats["afternoon"]["share_over_3h"] == 0.5
    assert stats["afternoon"]["share_over_4h"] == 0.0
    assert stats["evening"]["share_over_3h"] == 1.0  # 18:00-22:00
    assert stats["outings"]["per_day"] == pytest.approx(1 / 3, abs=1e-3)
    # Daytime hours at home: day 0's twelve minus the outing's 09 and 10 o'clock hours,
    # none on day 1 (away), all twelve on day 3. Quiet: 08, 13, 14, 16, 17 and 19 on day 0
    # and all of day 3's.
    assert lives.home_hours == 10 + 12
    assert lives.home_hours_quiet == 6 + 12


def test_bench_realism_reads_a_folder_and_writes_json(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = ["timestamp,household_id,device_id,kind,value"]
    for t, hid, dev, kind, value in sorted(_rows()):
        stamp = datetime.fromtimestamp(t, SEOUL).isoformat()
        lines.append(f"{stamp},{hid},{dev},{kind},{value:g}")
    (logs / "tiny.csv").write_text("\n".join(lines) + "\n")
    homes = real_lives(logs)
    assert list(homes) == ["tiny"] and homes["tiny"].outings == home_lives(_rows()).outings

    out = tmp_path / "realism.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "anbu", "--data-dir", str(tmp_path / "var"),
            "bench", "realism", "--real", str(logs),
            "--households", "2", "--days", "8", "--output", str(out),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "afternoon 12-18" in result.stdout and "simulator" in result.stdout
    written = json.loads(out.read_text())
    assert written["real"]["homes"]["tiny"]["outings"]["p50_h"] == pytest.approx(2.5, abs=0.01)
    assert written["simulator"]["households"] == 2
    assert written["simulator"]["days_with_data"] >= 2 * 7


def test_bench_realism_says_what_is_wrong_with_the_folder(tmp_path: Path) -> None:
    def realism(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable, "-m", "anbu", "--data-dir", str(tmp_path / "var"),
                "bench", "realism", "--real", str(folder), "--households", "1", "--days", "7",
                "--output", str(tmp_path / "out.json"),
            ],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    empty = tmp_path / "empty"
    empty.mkdir()
    result = realism(empty)
    assert result.returncode == 2 and "no *.csv file" in result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "home.csv").write_text(
        "timestamp,household_id,device_id,kind,value\n2026-01-05T08:00:00,h,d,motion,1\n"
    )
    result = realism(bad)
    assert result.returncode == 2 and "home.csv:2:" in result.stderr and "offset" in result.stderr
    # Positive control: the same file with its offset is read and measured.
    (bad / "home.csv").write_text(
        "timestamp,household_id,device_id,kind,value\n2026-01-05T08:00:00+09:00,h,d,motion,1\n"
    )
    result = realism(bad)
    assert result.returncode == 0, result.stderr
