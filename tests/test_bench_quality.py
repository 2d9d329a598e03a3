"""The detection-quality benchmark computes its figures (a smoke run, not a timed test)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bench.quality import RaisedAlert, run, score
from bench.quality_cli import quality_table
from simulator.model import Incident, IncidentKind
from simulator.plan import IncidentRates

T0 = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)  # 12:00 in Seoul: a daytime collapse


def _at(hours: float) -> float:
    return (T0 + timedelta(hours=hours)).timestamp()


def test_scoring_follows_the_ground_truth() -> None:
    truth = [
        Incident("hh-1", IncidentKind.COLLAPSE, T0, T0 + timedelta(days=3)),
        Incident("hh-2", IncidentKind.TRIP, T0, T0 + timedelta(days=2), registered_away=True),
        Incident("hh-3", IncidentKind.TRIP, T0, T0 + timedelta(days=2), registered_away=False),
        Incident("hh-4", IncidentKind.COLLAPSE, T0, T0 + timedelta(days=3)),
        Incident(
            "hh-5", IncidentKind.GATEWAY_OUTAGE, T0, T0 + timedelta(hours=5), device_id="gw-5"
        ),
    ]
    alerts = [
        RaisedAlert("hh-1", "inactivity_routine", _at(-30)),  # before the collapse: false
        RaisedAlert("hh-1", "inactivity_routine", _at(1.5)),  # finds it after 1.5 h
        RaisedAlert("hh-1", "inactivity", _at(24)),  # the same collapse again: not counted twice
        RaisedAlert("hh-2", "inactivity", _at(25)),  # registered away: false alarm
        RaisedAlert("hh-3", "not_back", _at(4)),  # nobody knew they were away: justified
        RaisedAlert("hh-5", "inactivity", _at(2)),  # during a gateway outage: false alarm
        RaisedAlert("hh-5", "gateway_offline", _at(0.1)),  # a health alert, not a care alert
    ]
    result = score(alerts, truth)
    figures = result.figures(household_days=200)
    assert figures["collapses"] == 2
    assert figures["recall"] == 0.5  # hh-4 was never found
    assert figures["daytime_ttd_median_h"] == 1.5
    assert figures["false_alarms"] == 3
    assert figures["false_alarms_in_registered_away"] == 1
    assert figures["false_alarms_in_gateway_outage"] == 1
    assert figures["false_alarms_per_100_household_days"] == 1.5
    assert figures["alerts_in_unregistered_trips"] == 1
    assert figures["health_alerts"] == 1


def test_quality_smoke_run_routine_beside_fixed_rule() -> None:
    rates = dataclasses.replace(IncidentRates(), collapse=0.6, daytime_collapse=1.0)
    figures = run(households=8, days=30, seed=2, workers=1, rates=rates)
    assert figures["events"] > 50_000
    assert figures["incidents"]["collapse"] >= 2
    routine, fixed = figures["routine"], figures["fixed"]
    for result in (routine, fixed):
        assert result["collapses"] == figures["incidents"]["collapse"]
        assert result["recall"] is not None and 0 <= result["recall"] <= 1
        assert result["false_alarms_per_100_household_days"] is not None
        assert result["detect_s"] > 0
    # The fixed rule fires 24 h after the last activity, which came shortly before the
    # collapse: its time to detect is just under 24 h, every time.
    assert fixed["recall"] == 1.0
    assert 21 <= fixed["daytime_ttd_median_h"] <= 24.1
    assert fixed["recall_within_12h"] == 0.0
    table = quality_table(figures)
    assert "routine-aware" in table and "false alarms per 100 household-days" in table
