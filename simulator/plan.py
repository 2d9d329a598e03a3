"""What will happen to each household over the simulated period, decided up front.

Incidents (collapse, illness, trips) and noise (gateway outages, device dropouts, failing
batteries) are drawn from the household's own random stream, so a seed fixes them all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from simulator.model import SimHousehold

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class IncidentRates:
    """Chance that a household has each incident in the simulated period.

    Attributes:
        collapse: chance of a collapse (activity stops for good).
        daytime_collapse: of collapses, the share that happen between 08:00 and 20:00.
        illness: chance of an illness (activity dwindles over 3-7 days, then recovers).
        trip_registered: chance of a trip of 1-5 days with the away period registered.
        trip_unregistered: chance of such a trip that nobody registered.
        gateway_outages_per_30d: mean gateway outages per 30 days.
        dropouts_per_30d: mean device dropouts (a sensor silent for hours) per 30 days.
        weak_battery: chance that one battery device drains fast and dies in the period.
        miss_rate: chance that any one message is lost.
        first_incident_day: no incident before this day, so routines can be learned first.
    """

    collapse: float = 0.2
    daytime_collapse: float = 0.7
    illness: float = 0.08
    trip_registered: float = 0.1
    trip_unregistered: float = 0.05
    gateway_outages_per_30d: float = 0.7
    dropouts_per_30d: float = 0.5
    weak_battery: float = 0.05
    miss_rate: float = 0.01
    first_incident_day: int = 21


NO_INCIDENTS = IncidentRates(
    collapse=0,
    illness=0,
    trip_registered=0,
    trip_unregistered=0,
    gateway_outages_per_30d=0,
    dropouts_per_30d=0,
    weak_battery=0,
    miss_rate=0,
)
"""Clean data: residents live their routines, every message arrives."""


@dataclass(slots=True)
class HouseholdPlan:
    """Times are epoch seconds; days are indexes from the simulation's first local day.

    Attributes:
        collapse_at: when the resident collapses, if they do.
        illness_days: first and last day of an illness.
        trips: (leave, return, registered) for each trip.
        outages: gateway outages (start, end).
        dropouts: (device id, start, end).
        batteries: device id -> (percent at the start, percent lost per day).
        miss_rate: chance a message is lost.
        withdrawal: (first day, day of full depth, depth): from the first day the resident
            gradually withdraws (goes out less, moves less, is restless at night) until
            ``depth`` of their going out and moving about is gone.
    """

    collapse_at: float | None = None
    illness_days: tuple[int, int] | None = None
    trips: list[tuple[float, float, bool]] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)
    dropouts: list[tuple[str, float, float]] = field(default_factory=list)
    batteries: dict[str, tuple[float, float]] = field(default_factory=dict)
    miss_rate: float = 0.0
    withdrawal: tuple[int, int, float] | None = None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Residents who gradually withdraw over weeks (for the weekly review's benchmark).

    Attributes:
        households: household indexes (``hh-00007`` is 7) of the residents who withdraw.
        first_day: the day their withdrawal starts.
        days: days until it reaches its full depth (it stays there afterwards).
        depth: the share of going out and moving about lost at full depth (0-1).
    """

    households: frozenset[int]
    first_day: int = 28
    days: int = 35
    depth: float = 0.6


def poisson(rng: random.Random, mean: float) -> int:
    """Draw a Poisson-distributed count with the given mean (``random`` has none)."""
    count, total = 0, rng.expovariate(1.0) if mean > 0 else float("inf")
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def make_plan(
    household: SimHousehold,
    rng: random.Random,
    rates: IncidentRates,
    midnight0: float,
    days: int | None,
) -> HouseholdPlan:
    """Draw the incidents and noise of one household.

    Args:
        household: the household.
        rng: its random stream.
        rates: how often things happen.
        midnight0: epoch of local midnight of the first day.
        days: length of the simulation; ``None`` (live demo) plans only noise for 30 days.
    """
    plan = HouseholdPlan(miss_rate=rates.miss_rate)
    span = days if days is not None else 30
    battery_devices = [d.device_id for d in household.devices if d.battery_powered]
    for device_id in battery_devices:
        plan.batteries[device_id] = (rng.uniform(55, 100), rng.uniform(0.02, 0.15))
    if battery_devices and rng.random() < rates.weak_battery:
        weak = rng.choice(battery_devices)
        start = rng.uniform(15, 40)
        plan.batteries[weak] = (start, start / rng.uniform(span * 0.4, span * 0.9))
    for _ in range(poisson(rng, rates.gateway_outages_per_30d * span / 30)):
        begin = midnight0 + rng.uniform(0, span) * DAY
        plan.outages.append((begin, begin + rng.uniform(10 * 60, 8 * HOUR)))
    sensors = [d.device_id for d in household.devices if d.kind in ("motion", "plug", "door")]
    for _ in range(poisson(rng, rates.dropouts_per_30d * span / 30)):
        begin = midnight0 + rng.uniform(0, span) * DAY
        plan.dropouts.append((rng.choice(sensors), begin, begin + rng.uniform(HOUR, 3 * DAY)))
    if days is None or days - rates.first_incident_day < 4:
        return plan
    # Incidents do not overlap: each takes a slice of the days after the learning period.
    free_from = rates.first_incident_day
    last = days - 3
    if rng.random() < rates.trip_registered + rates.trip_unregistered and free_from < last - 6:
        registered = rng.random() < rates.trip_registered / max(
            1e-9, rates.trip_registered + rates.trip_unregistered
        )
        leave_day = rng.randint(free_from, min(last - 6, free_from + 15))
        length = rng.randint(1, 5)
        leave = midnight0 + leave_day * DAY + rng.uniform(8.5, 11.5) * HOUR
        back = midnight0 + (leave_day + length) * DAY + rng.uniform(13.0, 19.0) * HOUR
        plan.trips.append((leave, back, registered))
        free_from = leave_day + length + 2
    if rng.random() < rates.illness and free_from < last - 8:
        first = rng.randint(free_from, min(last - 8, free_from + 10))
        plan.illness_days = (first, first + rng.randint(3, 7) - 1)
        free_from = plan.illness_days[1] + 3
    if rng.random() < rates.collapse and free_from <= last:
        day = rng.randint(free_from, last)
        if rng.random() < rates.daytime_collapse:
            hour = rng.uniform(8.0, 20.0)
        else:
            hour = rng.choice([rng.uniform(20.0, 24.0), rng.uniform(24.0, 32.0)])
        plan.collapse_at = midnight0 + day * DAY + hour * HOUR
    return plan
