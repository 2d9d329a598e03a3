"""``anbu backtest`` on event files, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from anbu.timeutil import SEOUL

START = datetime(2026, 3, 2, tzinfo=SEOUL)  # a Monday


def write_resident_file(path: Path, *, button: bool = True) -> None:
    """One household moving every 10 min 07:00-22:00 for 14 days, stopping at 10:00 on day 15.

    The gateway heartbeats every 5 minutes throughout; an emergency button is pressed at
    23:00 on day 15 (elsewhere in the city, so the two alerts are independent).
    """
    lines = ["timestamp,household_id,device_id,kind,value"]
    for day in range(15):
        for minute in range(0, 1440, 5):
            moment = START + timedelta(days=day, minutes=minute)
            lines.append(f"{moment.isoformat()},hh-a,gw-a,heartbeat,1")
            stopped = day == 14 and minute >= 600
            if 420 <= minute <= 1320 and minute % 10 == 0 and not stopped:
                lines.append(f"{moment.isoformat()},hh-a,motion-a,motion,1")
    if button:
        press = START + timedelta(days=14, hours=23)
        lines.append(f"{int(press.timestamp())},hh-b,button-b,button,1")
        lines.append(f"{int(press.timestamp()) + 1},hh-b,button-b,button,0")
    path.write_text("\n".join(lines) + "\n")


def backtest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anbu", "--data-dir", str(cwd / "var"), "backtest", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )


def test_backtest_raises_inactivity_for_the_silent_morning_and_sos_for_the_button(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.csv"
    write_resident_file(events)
    out = tmp_path / "alerts.jsonl"
    done = backtest("--events", str(events), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    for alert in alerts:
        assert {"household_id", "kind", "severity", "raised_at", "reason"} <= alert.keys()
    inactivity = [a for a in alerts if a["household_id"] == "hh-a"]
    assert [(a["kind"], a["action"]) for a in inactivity] == [("inactivity_routine", "raise")]
    raised = datetime.fromisoformat(inactivity[0]["raised_at"]).astimezone(SEOUL)
    # the silences model's threshold for a 09:50 silence of a resident never quiet that long
    # (docs/detectors.md): after its 1 h floor, well before the fixed 24 h rule
    last = START + timedelta(days=14, hours=9, minutes=50)
    assert last + timedelta(hours=1) <= raised <= last + timedelta(hours=8)
    assert inactivity[0]["details"]["model"] == "silences"
    sos = [a for a in alerts if a["household_id"] == "hh-b"]
    assert [(a["kind"], a["severity"]) for a in sos] == [("sos", "critical")]
    assert "events/s" in done.stderr

    fixed = backtest("--events", str(events), "--fixed-only", "--no-progress", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    kinds = [json.loads(line)["kind"] for line in fixed.stdout.splitlines()]
    assert kinds == ["sos"]  # the fixed 24 h rule has not fired by the end of the file


def test_backtest_with_a_registry_file_uses_the_households_settings(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    write_resident_file(events, button=False)
    registry = tmp_path / "registry.yaml"
    registry.write_text("households:\n  - household_id: hh-a\n    inactivity_hours: 12\n"
                        "    routine_enabled: false\n")
    done = backtest("--events", str(events), "--registry", str(registry), "--no-progress",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(a["kind"], a["action"]) for a in alerts] == [("inactivity", "raise")]
    raised = datetime.fromisoformat(alerts[0]["raised_at"]).astimezone(SEOUL)
    assert raised == START + timedelta(days=14, hours=21, minutes=50)


def test_a_bad_row_is_refused_with_its_line_number(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("timestamp,household_id,device_id,kind,value\n"
                      "2026-03-02T07:00:00+09:00,hh-a,m,motion,1\n"
                      "2026-03-02T07:10:00,hh-a,m,motion,1\n")
    done = backtest("--events", str(events), cwd=tmp_path)
    assert done.returncode == 2
    assert "events.csv:3" in done.stderr and "no UTC offset" in done.stderr
    events.write_text("timestamp,household_id,device_id,kind,value\n"
                      "2026-03-02T07:00:00+09:00,hh-a,m,sneeze,1\n")
    done = backtest("--events", str(events), cwd=tmp_path)
    assert done.returncode == 2 and "unknown kind 'sneeze'" in done.stderr


def test_a_file_longer_than_one_progress_step_is_read_with_progress(tmp_path: Path) -> None:
    from detectors.backtest import read_csv

    path = tmp_path / "long.csv"
    lines = ["timestamp,household_id,device_id,kind,value"]
    lines += [f"{1_700_000_000 + i * 60},hh-1,m1,motion,{i % 2}" for i in range(70_000)]
    path.write_text("\n".join(lines) + "\n")
    seen: list[int] = []
    rows = read_csv(path, seen.append)
    assert len(rows) == 70_000
    assert seen and 0 < seen[0] <= path.stat().st_size
