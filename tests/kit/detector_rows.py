"""The detector core's tests' material: a resident's routine as rows, run in event time.

Times are local (Seoul) hours on days counted from a Monday, as epoch seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from anbu.events import AlertEvent
from anbu.timeutil import SEOUL
from detectors.backtest import Row, run_rows
from detectors.engine import Engine
from detectors.params import DetectorParams

MONDAY = datetime(2026, 3, 2, tzinfo=SEOUL)
RATES = DetectorParams(routine_model="rates")
"""The rates model of 2026-11-22 (active slots an hour, Poisson), still selectable: the tests
whose figures are that model's (2 h minimum silence, "rarer than 1 in 100,000") pin it."""
HH = "hh-1"


def at(day: int, hour: float) -> float:
    """Epoch seconds of local (Seoul) ``hour`` on ``day`` days after the first Monday."""
    return (MONDAY + timedelta(days=day, hours=hour)).timestamp()


def routine_rows(
    days: range,
    *,
    stop_at: float | None = None,
    nap: bool = False,
    heartbeat_until: float | None = None,
    hh: str = HH,
) -> list[Row]:
    """A resident who moves every 10 minutes from 07:00 to 22:00.

    Gateway heartbeats every 5 minutes until ``heartbeat_until`` (none by default: the
    gateway is then unknown and the test's clock alone moves time).
    """
    rows: list[Row] = []
    end = at(days.stop, 0)
    t = at(days.start, 0)
    hb_end = heartbeat_until if heartbeat_until is not None else t
    while t < end:
        local = datetime.fromtimestamp(t, SEOUL)
        minute = local.hour * 60 + local.minute
        if t < hb_end and minute % 5 == 0:
            rows.append((t, hh, "gw-1", "heartbeat", 1.0))
        napping = nap and 13 * 60 <= minute < 15 * 60
        if 7 * 60 <= minute <= 22 * 60 and minute % 10 == 0 and not napping:
            if stop_at is None or t < stop_at:
                rows.append((t, hh, "motion-1", "motion", 1.0))
        t += 60
    return rows


def run(engine: Engine, rows: list[Row], until: float | None = None) -> list[AlertEvent]:
    """Feed ``rows`` in time order, then advance the clock to ``until``; return the alerts."""
    alerts = list(run_rows(engine, sorted(rows, key=lambda r: r[0])))
    if until is not None:
        alerts += engine.advance(until)
    return alerts


def kinds(alerts: list[AlertEvent]) -> list[tuple[str, str]]:
    """(kind, action) of each alert, in order."""
    return [(a.kind.value, a.action.value) for a in alerts]
