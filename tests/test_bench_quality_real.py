"""The real-home quality benchmark scores a small synthetic log made here (no real data)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anbu.timeutil import SEOUL
from bench import quality_real
from bench.quality_cli import real_table

START = datetime(2026, 3, 2, tzinfo=SEOUL)


def _write_log(path: Path, days: int = 20) -> dict[str, float]:
    """A resident who moves every 10 min from 07:00 to 22:00, heartbeats every hour.

    Day 16 holds a 9 h daytime silence (10:00-19:00) that ends in ordinary life; days 10-11
    a trip of 40 h that leaves by the entrance door.
    """
    rows: list[tuple[float, str, str, float]] = []
    marks = {}
    end = START + timedelta(days=days)
    t = START
    while t < end:
        day = (t - START).days
        minute = t.hour * 60 + t.minute
        if t.minute == 0:
            rows.append((t.timestamp(), "hh-gw", "heartbeat", 1))
        quiet = day == 16 and 10 * 60 < minute < 19 * 60
        trip = (day == 10 and minute > 9 * 60) or day == 11 and minute <= 23 * 60
        if 7 * 60 <= minute <= 22 * 60 and minute % 10 == 0 and not quiet and not trip:
            room = "kitchen" if minute % 20 else "living"
            rows.append((t.timestamp(), f"pir-{room}", "motion", 1))
        if day == 10 and minute == 9 * 60:
            rows.append((t.timestamp(), "front", "door", 1))
            rows.append((t.timestamp() + 5, "front", "door", 0))
        t += timedelta(minutes=1)
    marks["silence_start"] = (START + timedelta(days=16, hours=10)).timestamp()
    with path.open("w") as handle:
        handle.write("timestamp,household_id,device_id,kind,value\n")
        for ts, dev, kind, value in sorted(rows):
            when = datetime.fromtimestamp(ts, SEOUL).isoformat()
            handle.write(f"{when},hh,{dev},{kind},{value}\n")
    return marks


def test_the_scoring_reports_a_false_alarm_apart_from_a_trip_and_detects_made_collapses(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    marks = _write_log(logs / "synthetic.csv")
    figures = quality_real.run(logs, cuts=3, seed=1, pictures=tmp_path / "pics")
    home = figures["homes"]["synthetic"]
    assert home["days_with_data"] == 19  # day 11 has no sensor event
    routine = home["detectors"]["routine"]
    fixed = home["detectors"]["fixed"]

    # the 9 h daytime silence ended within 24 h: the routine detector's alert in it is a
    # false alarm; the fixed rule (negative control) raises none there
    assert routine["false_alarms"] >= 1
    first = routine["false_alarm_list"][0]
    assert first["silence_start"] == round(marks["silence_start"])
    assert first["silence_h"] is not None and 9 <= first["silence_h"] < 24
    assert fixed["false_alarms"] == 0
    # the trip (over 24 h) is counted apart, by both
    assert routine["alerts_in_long_silences"] >= 1
    assert fixed["alerts_in_long_silences"] >= 1

    # made collapses: found by both; the routine faster than the fixed 24 h rule
    late = routine["ttd"]["day 14+"]
    assert late["cuts"] == 3 and late["undetected_48h"] == 0
    assert late["median_h"] is not None and late["median_h"] < 12
    assert fixed["ttd"]["day 14+"]["median_h"] is not None
    assert 23 <= fixed["ttd"]["day 14+"]["median_h"] <= 24
    assert figures["pooled"]["fixed"]["false_alarms"] == 0
    assert (tmp_path / "pics" / "quality-real-synthetic.png").stat().st_size > 1000
    table = real_table(figures)
    assert "synthetic" in table and "pooled" in table


def test_the_cut_choice_follows_the_protocol_and_repeats(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _write_log(logs / "synthetic.csv")
    (home,) = quality_real.load_homes(logs)
    chosen = quality_real.choose_cuts(home, 4, seed=7)
    assert chosen == quality_real.choose_cuts(home, 4, seed=7)
    assert chosen != quality_real.choose_cuts(home, 4, seed=8)
    for positions in chosen.values():
        assert len(positions) == 4
        for pos in positions:
            t, _, _, kind, _ = home.rows[pos - 1]
            assert kind != "door" and 8 <= quality_real.local_hour(t) < 20


def test_the_cli_writes_the_json_and_prints_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anbu.cli import build_app

    monkeypatch.chdir(tmp_path)  # the pictures go to ./bench-results

    logs = tmp_path / "logs"
    logs.mkdir()
    _write_log(logs / "synthetic.csv", days=8)
    out = tmp_path / "q.json"
    argv = ["bench", "quality", "--real", str(logs), "--cuts", "2", "--output", str(out)]
    result = CliRunner().invoke(build_app(argv), argv)
    assert result.exit_code == 0, result.output
    assert "FA/100d" in result.output
    assert (tmp_path / "bench-results" / "quality-real-synthetic.png").exists()
    assert json.loads(out.read_text())["homes"]["synthetic"]["days_with_data"] == 8
