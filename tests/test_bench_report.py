"""``anbu bench``'s report: every figure has a row, missing ones say why, plots are written."""

from __future__ import annotations

import json
from pathlib import Path

from bench.all_cli import STAGES, Options, run_all
from bench.report import FIGURES, Report, plot_household_week, write
from testkit.processes import run_anbu


def test_missing_figures_are_null_with_a_reason(tmp_path: Path) -> None:
    report = Report()
    report.set("sos_p99_ms", 180.0)
    report.set("pipeline_events_per_s", None, "the worker did not start")
    paths = write(report, tmp_path)
    data = json.loads(paths["json"].read_text())
    figures = data["figures"]
    assert set(figures) == {f.key for f in FIGURES}
    assert figures["sos_p99_ms"]["value"] == 180.0
    assert figures["sos_p99_ms"]["meets_goal"] is True
    assert figures["pipeline_events_per_s"] == {
        **figures["pipeline_events_per_s"],
        "value": None,
        "reason": "the worker did not start",
        "meets_goal": None,
    }
    assert all(f["reason"] for f in figures.values() if f["value"] is None)
    table = report.table()
    assert "the worker did not start" in table and "meets" in table
    assert paths["png"].stat().st_size > 10_000


def test_household_week_heatmap_shows_waking_hours(tmp_path: Path) -> None:
    path = tmp_path / "week.png"
    summary = plot_household_week(path)
    assert path.stat().st_size > 10_000
    by_hour = summary["events_by_hour"]
    awake = sum(by_hour[h] for h in range(9, 20))
    deep_night = sum(by_hour[h] for h in range(1, 4))
    assert awake > 10 * max(deep_night, 1)


def test_bench_runs_the_stages_it_can_and_reports_the_rest(tmp_path: Path) -> None:
    heavy = {s.name for s in STAGES} - {"household_week", "quality"}
    report = run_all(Options(tmp_path, quick=True), heavy, lambda _line: None)
    assert report.values["quality_routine_recall"] is not None
    assert report.values["quality_fixed_false_per_100"] is not None
    assert report.values["sos_p99_ms"] is None
    assert report.reasons["sos_p99_ms"] == "skipped (--skip)"
    assert (tmp_path / "household-week.png").exists()
    assert json.loads((tmp_path / "bench-partial.json").read_text())["details"]["quality"]


def test_anbu_bench_without_subcommand_runs_all(tmp_path: Path) -> None:
    skip = [arg for s in STAGES if s.name != "household_week" for arg in ("--skip", s.name)]
    result = run_anbu(
        "bench", "--out", str(tmp_path / "out"), *skip, data_dir=tmp_path / "var"
    )
    assert result.returncode == 0, result.stderr
    assert "whole pipeline, sustained" in result.stdout
    assert "skipped (--skip)" in result.stdout
    data = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert data["details"]["household_week"]["household_id"] == "hh-00001"
    assert (tmp_path / "out" / "bench.png").exists()
