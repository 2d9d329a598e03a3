"""Detection quality on simulated households: how fast a collapse is found, how often not.

The simulator makes households with incidents (collapses, illnesses, trips) and noise
(outages, dropouts, lost messages); the detector core runs over their events in event time,
once routine-aware and once with the fixed 24-hour rule alone, on the same events. The
ground truth then says which alerts were right:

* a care alert (any non-health kind) raised after a collapse began finds that collapse;
* one raised during an illness, or during a trip nobody registered, is justified;
* any other care alert, including one during a registered away period or a gateway outage,
  is a false alarm.

Events go straight from the simulator into the core (``detectors.backtest.make_engine`` and
``run_rows``, the path ``anbu backtest`` uses), in chunks fed to both detectors, and the
households are split over the machine's cores.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from anbu.events import HEALTH_KINDS, AlertAction, AlertKind
from anbu.registry_records import DeviceRecord, GatewayRecord, HouseholdRecord
from detectors.params import DetectorParams
from simulator.model import Incident, IncidentKind, SimEvent
from simulator.plan import DAY, HOUR, IncidentRates
from simulator.resident import SimOptions
from simulator.world import Simulation, SimulationConfig

DETECTORS = ("routine", "fixed")
CHUNK = 50_000
LOCAL_OFFSET = 9 * HOUR

# Fewer heartbeats and periodic plug reports than live gateways send: the core's clock is
# shared by all households, so 500 households still move it every few seconds, and the
# detection times measured do not depend on one household's heartbeat period.
BENCH_OPTIONS = SimOptions(heartbeat_s=1800.0, plug_report_s=3600.0)


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """A raised alert, reduced to what scoring needs."""

    household_id: str
    kind: str
    raised_at: float


@dataclass(slots=True)
class ShardResult:
    """What one worker process measured."""

    alerts: dict[str, list[RaisedAlert]]
    incidents: list[Incident]
    household_days: float
    events: int
    generate_s: float
    detect_s: dict[str, float]
    start: float
    end: float


def _chunks(events: Iterator[SimEvent]) -> Iterator[list[tuple[float, str, str, str, float]]]:
    chunk: list[tuple[float, str, str, str, float]] = []
    append = chunk.append
    for e in events:
        append((e.t, e.household_id, e.device_id, e.kind, e.value))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
            append = chunk.append
    if chunk:
        yield chunk


def run_shard(
    households: int, first_index: int, days: int, seed: int, rates: IncidentRates | None = None,
    params: DetectorParams | None = None,
) -> ShardResult:
    """Simulate households ``first_index..`` and run both detectors over their events.

    ``params``: the detectors' thresholds (default: :class:`DetectorParams`' defaults).
    """
    from detectors.backtest import make_engine, run_rows

    simulation = Simulation(
        SimulationConfig(
            households=households,
            days=days,
            seed=seed,
            rates=rates or IncidentRates(),
            options=BENCH_OPTIONS,
            first_index=first_index,
        )
    )
    records = simulation.registry_records()
    hh = [r for r in records if isinstance(r, HouseholdRecord)]
    devices = [r for r in records if isinstance(r, DeviceRecord)]
    gateways = [r for r in records if isinstance(r, GatewayRecord)]
    engines = {
        name: make_engine(hh, devices, gateways, routine=name == "routine", params=params)
        for name in DETECTORS
    }
    alerts: dict[str, list[RaisedAlert]] = {name: [] for name in DETECTORS}
    detect_s = dict.fromkeys(DETECTORS, 0.0)
    count = 0
    began = time.perf_counter()
    for chunk in _chunks(simulation.events()):
        count += len(chunk)
        for name, engine in engines.items():
            t0 = time.perf_counter()
            _collect(alerts[name], run_rows(engine, chunk))
            detect_s[name] += time.perf_counter() - t0
    assert simulation.end_epoch is not None
    for name, engine in engines.items():
        t0 = time.perf_counter()
        _collect(alerts[name], iter(engine.advance(simulation.end_epoch)))
        detect_s[name] += time.perf_counter() - t0
    total = time.perf_counter() - began
    incidents = simulation.ground_truth()
    observed = sum(
        _watched_days(simulation.start_epoch, simulation.end_epoch, h.household_id, incidents)
        for h in simulation.households
    )
    return ShardResult(
        alerts,
        incidents,
        observed,
        count,
        total - sum(detect_s.values()),
        detect_s,
        simulation.start_epoch,
        simulation.end_epoch,
    )


def _collect(into: list[RaisedAlert], alerts: Iterator[Any]) -> None:
    for alert in alerts:
        if alert.action is AlertAction.RAISE:
            into.append(
                RaisedAlert(alert.household_id, alert.kind.value, alert.raised_at.timestamp())
            )


def _watched_days(start: float, end: float, household_id: str, truth: list[Incident]) -> float:
    """Household-days in which a false alarm could happen (before any collapse)."""
    stop = end
    for incident in truth:
        if incident.household_id == household_id and incident.kind is IncidentKind.COLLAPSE:
            stop = min(stop, incident.start.timestamp())
    return max(0.0, stop - start) / DAY


@dataclass(slots=True)
class DetectorScore:
    """Figures for one detector."""

    collapses: int = 0
    detected: int = 0
    detected_12h: int = 0
    daytime_collapses: int = 0
    daytime_ttd_h: list[float] = field(default_factory=list)
    all_ttd_h: list[float] = field(default_factory=list)
    false_alarms: int = 0
    false_alarms_by_kind: dict[str, int] = field(default_factory=dict)
    false_in_registered_away: int = 0
    false_in_outage: int = 0
    illnesses: int = 0
    illnesses_alerted: int = 0
    unregistered_trip_alerts: int = 0
    health_alerts: int = 0

    def figures(self, household_days: float) -> dict[str, Any]:
        """The figures as JSON-ready numbers (None where there was nothing to measure)."""
        return {
            "collapses": self.collapses,
            "recall": _ratio(self.detected, self.collapses),
            "recall_within_12h": _ratio(self.detected_12h, self.collapses),
            "daytime_collapses": self.daytime_collapses,
            "daytime_detected": len(self.daytime_ttd_h),
            "daytime_ttd_median_h": _percentile(self.daytime_ttd_h, 50),
            "daytime_ttd_p90_h": _percentile(self.daytime_ttd_h, 90),
            "daytime_ttd_max_h": max(self.daytime_ttd_h) if self.daytime_ttd_h else None,
            "all_ttd_median_h": _percentile(self.all_ttd_h, 50),
            "all_ttd_p90_h": _percentile(self.all_ttd_h, 90),
            "false_alarms": self.false_alarms,
            "false_alarms_per_100_household_days": (
                round(100 * self.false_alarms / household_days, 3) if household_days else None
            ),
            "false_alarms_by_kind": dict(sorted(self.false_alarms_by_kind.items())),
            "false_alarms_in_registered_away": self.false_in_registered_away,
            "false_alarms_in_gateway_outage": self.false_in_outage,
            "illnesses": self.illnesses,
            "illnesses_alerted": self.illnesses_alerted,
            "alerts_in_unregistered_trips": self.unregistered_trip_alerts,
            "health_alerts": self.health_alerts,
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation between detections)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)


_HEALTH = {k.value for k in HEALTH_KINDS}
_CARE = {k.value for k in AlertKind} - _HEALTH - {AlertKind.SOS.value}


def score(alerts: list[RaisedAlert], incidents: list[Incident]) -> DetectorScore:
    """Compare one detector's raised alerts with the ground truth."""
    result = DetectorScore()
    by_household: dict[str, list[Incident]] = {}
    for incident in incidents:
        by_household.setdefault(incident.household_id, []).append(incident)
    care = sorted((a for a in alerts if a.kind in _CARE), key=lambda a: a.raised_at)
    result.health_alerts = sum(1 for a in alerts if a.kind in _HEALTH)
    found: dict[tuple[str, float], float] = {}
    for alert in care:
        verdict = "false"
        for incident in by_household.get(alert.household_id, []):
            start, end = incident.start.timestamp(), incident.end.timestamp()
            if incident.kind is IncidentKind.COLLAPSE and alert.raised_at >= start:
                found.setdefault((incident.household_id, start), alert.raised_at - start)
                verdict = "collapse"
                break
            if incident.kind is IncidentKind.ILLNESS and start <= alert.raised_at <= end + DAY:
                verdict = "illness"
                break
            if (
                incident.kind is IncidentKind.TRIP
                and not incident.registered_away
                and start <= alert.raised_at <= end + HOUR
            ):
                verdict = "unregistered_trip"
                result.unregistered_trip_alerts += 1
                break
        if verdict != "false":
            continue
        result.false_alarms += 1
        result.false_alarms_by_kind[alert.kind] = result.false_alarms_by_kind.get(alert.kind, 0) + 1
        for incident in by_household.get(alert.household_id, []):
            start, end = incident.start.timestamp(), incident.end.timestamp()
            if (
                incident.kind is IncidentKind.TRIP
                and incident.registered_away
                and (start - 3 * HOUR <= alert.raised_at <= end + 6 * HOUR)
            ):
                result.false_in_registered_away += 1
                break
            if incident.kind is IncidentKind.GATEWAY_OUTAGE and (
                start <= alert.raised_at <= end + HOUR
            ):
                result.false_in_outage += 1
                break
    alerted_illness = {
        (a.household_id)
        for a in care
        for i in by_household.get(a.household_id, [])
        if i.kind is IncidentKind.ILLNESS
        and i.start.timestamp() <= a.raised_at <= i.end.timestamp() + DAY
    }
    for incident in incidents:
        if incident.kind is IncidentKind.ILLNESS:
            result.illnesses += 1
            result.illnesses_alerted += incident.household_id in alerted_illness
        if incident.kind is not IncidentKind.COLLAPSE:
            continue
        start = incident.start.timestamp()
        result.collapses += 1
        ttd = found.get((incident.household_id, start))
        local_hour = (start + LOCAL_OFFSET) % DAY / HOUR
        daytime = 8 <= local_hour < 20
        result.daytime_collapses += daytime
        if ttd is None:
            continue
        result.detected += 1
        result.detected_12h += ttd <= 12 * HOUR
        result.all_ttd_h.append(ttd / HOUR)
        if daytime:
            result.daytime_ttd_h.append(ttd / HOUR)
    return result


def run(
    households: int = 500,
    days: int = 60,
    seed: int = 1,
    workers: int | None = None,
    rates: IncidentRates | None = None,
    params: DetectorParams | None = None,
) -> dict[str, Any]:
    """Run the quality benchmark and return its figures.

    Args:
        households: simulated households (the issue asks for at least 500).
        days: simulated days (at least 60).
        seed: the simulation's seed.
        workers: processes to split the households over; default: the CPU count.
        rates: how often incidents and noise happen; default :class:`IncidentRates`.
        params: the detectors' thresholds (the CLI passes the ``detectors`` settings).

    Returns:
        ``{"routine": {...}, "fixed": {...}, "households": ..., "seconds": ..., ...}``.
    """
    began = time.perf_counter()
    workers = max(1, min(workers or os.cpu_count() or 1, households))
    sizes = [households // workers + (i < households % workers) for i in range(workers)]
    firsts = [1 + sum(sizes[:i]) for i in range(workers)]
    if workers == 1:
        shards = [run_shard(households, 1, days, seed, rates, params)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [
                pool.submit(run_shard, size, first, days, seed, rates, params)
                for size, first in zip(sizes, firsts, strict=True)
            ]
            shards = [f.result() for f in futures]
    incidents = [i for s in shards for i in s.incidents]
    household_days = sum(s.household_days for s in shards)
    out: dict[str, Any] = {
        "households": households,
        "days": days,
        "seed": seed,
        "workers": workers,
        "events": sum(s.events for s in shards),
        "household_days_watched": round(household_days, 1),
        "incidents": {
            kind.value: sum(1 for i in incidents if i.kind is kind) for kind in IncidentKind
        },
        "generate_s": round(sum(s.generate_s for s in shards), 2),
    }
    for name in DETECTORS:
        alerts = [a for s in shards for a in s.alerts[name]]
        figures = score(alerts, incidents).figures(household_days)
        figures["detect_s"] = round(sum(s.detect_s[name] for s in shards), 2)
        figures["events_per_s"] = (
            round(out["events"] / figures["detect_s"]) if figures["detect_s"] else None
        )
        out[name] = figures
    out["seconds"] = round(time.perf_counter() - began, 2)
    return out
