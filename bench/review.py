"""The weekly review on a simulated district, and over real logs.

A district of households lives for some weeks; a few residents gradually withdraw (the
simulator's :class:`~simulator.plan.Withdrawal`: going out less, moving less, restless
nights). The review (``detectors.review``) judges every household's last week against its
own earlier weeks; the figure is how many of the withdrawing residents its visit plan ranks
in the top 20.

Collapses are left out of the district (the detector raises those within hours; a home that
went silent would top any weekly list, rightly). Trips, illnesses, outages, dropouts and
lost messages stay in, so the review must tell them from a withdrawal.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from detectors.backtest import read_csv
from detectors.review import Judgement, Review, review_rows
from simulator.plan import IncidentRates, Withdrawal
from simulator.resident import SimOptions
from simulator.world import Simulation, SimulationConfig

# Hourly heartbeats, as in the real logs: the review does not need the live pace, and a
# 60-s heartbeat would be most of the district's events.
BENCH_OPTIONS = SimOptions(heartbeat_s=3600.0, plug_report_s=3600.0)
BENCH_RATES = IncidentRates(collapse=0.0)
TOP = 20


@dataclass(frozen=True, slots=True)
class DistrictResult:
    """The last week's visit plan and how it ranked the withdrawing residents.

    Attributes:
        ranked: the last week's judgements, the visit plan's order.
        withdrawing: the withdrawing residents' household ids.
        in_top: how many of them are in the top ``top`` (:data:`TOP` by default).
        seconds: wall-clock time of the run.
        households: households simulated.
        weeks: weeks simulated.
    """

    ranked: list[Judgement]
    withdrawing: frozenset[str]
    in_top: int
    seconds: float
    households: int
    weeks: int


def _shard(config: SimulationConfig) -> Review:
    """Simulate a slice of the district and review it (runs in a worker process)."""
    simulation = Simulation(config)
    review = Review()
    end = simulation.end_epoch or 0.0
    for index in range(len(simulation.households)):
        for event in simulation.household_events(index):
            review.observe(event.t, event.household_id, event.device_id, event.kind, event.value)
    review.finish(end)
    return review


def district(
    households: int = 200,
    weeks: int = 10,
    withdrawing: int = 10,
    seed: int = 1,
    workers: int = 2,
    depth: float = 0.6,
    top: int = TOP,
) -> DistrictResult:
    """Simulate the district, review its last week, count the withdrawing in the top 20.

    Args:
        households: households in the district.
        weeks: weeks simulated (whole Seoul weeks from a Monday).
        withdrawing: residents who gradually withdraw, drawn with ``seed``.
        seed: the simulation's seed.
        workers: processes the households are split over.
        depth: the share of going out and moving about the withdrawing lose at full depth.
        top: the length of the visit plan's head that is counted.
    """
    started = time.perf_counter()
    picked = frozenset(random.Random(f"anbu-review:{seed}").sample(range(1, households + 1),
                                                                   withdrawing))
    days = weeks * 7
    # the withdrawal begins after the first third and reaches its depth a week before the end
    first = max(21, days // 3)
    gone = Withdrawal(picked, first_day=first, days=max(7, days - 7 - first), depth=depth)
    base = SimulationConfig(
        households=households,
        days=days,
        seed=seed,
        rates=BENCH_RATES,
        options=BENCH_OPTIONS,
        withdrawal=gone,
    )
    size = -(-households // max(1, workers))
    configs = [
        replace(base, households=min(size, households - at), first_index=1 + at)
        for at in range(0, households, size)
    ]
    review = Review()
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for part in pool.map(_shard, configs):
            for week, judgements in part.judgements.items():
                review.judgements.setdefault(week, []).extend(judgements)
    last = max(review.weeks())
    ranked = review.ranked(last)
    names = frozenset(f"hh-{i:05d}" for i in picked)
    in_top = sum(1 for j in ranked[:top] if j.household_id in names)
    return DistrictResult(
        ranked, names, in_top, time.perf_counter() - started, households, weeks
    )


def real(path: Path) -> Review:
    """The review replayed over one real log in ``anbu backtest`` CSV format."""
    return review_rows(read_csv(path))
