"""How real lives and simulated ones compare: silences, outings, sleep, quiet sensors.

The same statistics are computed for real logs (``anbu backtest`` CSV files) and for the
simulator's event stream, so the simulator can be fitted to real residents
(``anbu bench realism --real DIR``). Everything is computed from rows
``(t, household_id, device_id, kind, value)`` by pure functions: :func:`home_lives` reduces
one household's rows to the raw material (:class:`Lives`), :meth:`Lives.merge` pools
households, and :func:`figures` turns the pooled material into numbers.

Definitions (the same on both sides):

* **activity** follows docs/detectors.md "What counts as activity": motion that starts, a
  door, contact or presence that changes, a robot interaction or check-in answer, a plug
  that switches on (crosses 10 W, or the converted logs' 0 -> 1 edge) or steps up by
  max(40 W, 50 %). Heartbeats, batteries and falling power are not activity.
* a **silence** is the time between two consecutive activity events of a household. One of
  24 h or more is an **absence** (a trip or a stopped recorder), counted apart and left out
  of everything else. A silence whose last event before it was the entrance door (kind
  ``door``) and that lasts 10 minutes or more is an **outing**; every other silence is
  **at home**.
* the time of day of a silence is the Seoul hour it starts in: night 0-6, morning 6-12,
  afternoon 12-18, evening 18-24. Shares are of the at-home silences of 5 minutes or more
  (shorter gaps are within one burst of activity, and their number says more about how
  many sensors a home has than about how its resident lives).
* a **day with data** is a Seoul day with at least one activity event.
* **longest daytime silence**: per day with data, the longest stretch of 08:00-20:00 without
  activity while at home (at-home silences clipped to that window).
* **night sleep**: per night, the longest at-home silence that starts between 20:00 and
  06:00 (attributed to the day it starts on if before midnight).
* **quiet while at home**: daytime hours (08-20) whose middle falls neither in an outing
  nor in an absence, on days with data; how many of them have no activity at all, or
  activity from only one sensor, and what share of the home's activity sensors report in
  an average such hour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Row = tuple[float, str, str, str, float]

HOUR = 3600.0
DAY = 86400.0
LOCAL_OFFSET = 9 * HOUR  # Asia/Seoul, no daylight saving time
PERIODS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))
THRESHOLDS_H = (1, 2, 3, 4)
MIN_SILENCE_S = 300.0
OUTING_MIN_S = 600.0  # the detector's out_grace_s: shorter is fetching the post
ABSENCE_S = DAY
DAYTIME = (8, 20)

# Kinds whose every report is activity (motion only when it starts).
_ALWAYS = frozenset({"motion", "robot", "checkin_answer", "button"})
# Kinds that are activity when their value changes.
_ON_CHANGE = frozenset({"door", "contact", "presence"})
PLUG_ON_W = 10.0
PLUG_STEP_W = 40.0
PLUG_STEP_RATIO = 0.5


def local_day(t: float) -> int:
    """Index of the Seoul day ``t`` falls in."""
    return int((t + LOCAL_OFFSET) // DAY)


def local_hour(t: float) -> float:
    """Hours after Seoul midnight."""
    return (t + LOCAL_OFFSET) % DAY / HOUR


@dataclass(slots=True)
class Lives:
    """The raw material of the statistics for one household or a pool of them.

    Attributes:
        households: how many households were reduced into it.
        days: days with data.
        absences: silences of 24 h or more.
        silences: at-home silences of 5 min or more, as (start hour 0-24, length s).
        outings: outing lengths, seconds.
        day_longest: per day with data, the longest daytime silence at home, seconds.
        nights: per night, the longest at-home silence starting 20:00-06:00, seconds.
        day_events: per day with data, activity events.
        day_hours: per day with data, hours with activity.
        home_hours: daytime hours at home.
        home_hours_quiet: of them, hours without any activity.
        home_hours_one: of them, hours with activity from one sensor only.
        home_sensor_share: sum over home hours of (sensors active / activity sensors).
        sensors: activity sensors per household (devices that ever showed activity).
    """

    households: int = 0
    days: int = 0
    absences: int = 0
    silences: list[tuple[float, float]] = field(default_factory=list)
    outings: list[float] = field(default_factory=list)
    day_longest: list[float] = field(default_factory=list)
    nights: list[float] = field(default_factory=list)
    day_events: list[int] = field(default_factory=list)
    day_hours: list[int] = field(default_factory=list)
    home_hours: int = 0
    home_hours_quiet: int = 0
    home_hours_one: int = 0
    home_sensor_share: float = 0.0
    sensors: list[int] = field(default_factory=list)

    def merge(self, other: Lives) -> Lives:
        """Pool ``other`` into this one (in place) and return it."""
        self.households += other.households
        self.days += other.days
        self.absences += other.absences
        self.silences += other.silences
        self.outings += other.outings
        self.day_longest += other.day_longest
        self.nights += other.nights
        self.day_events += other.day_events
        self.day_hours += other.day_hours
        self.home_hours += other.home_hours
        self.home_hours_quiet += other.home_hours_quiet
        self.home_hours_one += other.home_hours_one
        self.home_sensor_share += other.home_sensor_share
        self.sensors += other.sensors
        return self


def activity(rows: Iterable[Row]) -> list[tuple[float, str, str]]:
    """The activity events among one household's rows, as (t, device, kind), in time order."""
    last: dict[str, float] = {}
    out: list[tuple[float, str, str]] = []
    for t, _hid, dev, kind, value in rows:
        if kind in _ALWAYS:
            if kind == "motion" and value < 0.5:
                continue
        elif kind in _ON_CHANGE:
            prev = last.get(dev)
            last[dev] = value
            if prev is not None and prev == value:
                continue
        elif kind == "power":
            prev = last.get(dev, math.nan)
            last[dev] = value
            if math.isnan(prev) or value <= prev:
                continue
            turned_on = prev < PLUG_ON_W <= value or (prev == 0 and value == 1)
            if not turned_on and value - prev < max(PLUG_STEP_W, PLUG_STEP_RATIO * prev):
                continue
        else:
            continue
        out.append((t, dev, kind))
    out.sort(key=lambda a: a[0])
    return out


def home_lives(rows: Iterable[Row]) -> Lives:
    """Reduce one household's rows (any order) to the raw material of the statistics."""
    events = activity(rows)
    lives = Lives(households=1)
    if not events:
        return lives
    sensors = {dev for _, dev, _ in events}
    lives.sensors.append(len(sensors))
    per_day: dict[int, int] = {}
    hours: dict[int, set[int]] = {}
    # (day, hour) -> devices with activity in that hour
    hour_devices: dict[tuple[int, int], set[str]] = {}
    for t, dev, _ in events:
        day = local_day(t)
        per_day[day] = per_day.get(day, 0) + 1
        hour = int(local_hour(t))
        hours.setdefault(day, set()).add(hour)
        hour_devices.setdefault((day, hour), set()).add(dev)
    lives.days = len(per_day)
    lives.day_events = [per_day[d] for d in sorted(per_day)]
    lives.day_hours = [len(hours[d]) for d in sorted(per_day)]

    away: list[tuple[float, float]] = []  # outings and absences
    day_longest = dict.fromkeys(per_day, 0.0)
    nights: dict[int, float] = {}
    for (a, _dev, kind), (b, _, _) in zip(events, events[1:], strict=False):
        length = b - a
        if length >= ABSENCE_S:
            lives.absences += 1
            away.append((a, b))
            continue
        if kind == "door" and length >= OUTING_MIN_S:
            lives.outings.append(length)
            away.append((a, b))
            continue
        start_hour = local_hour(a)
        if length >= MIN_SILENCE_S:
            lives.silences.append((start_hour, length))
        if start_hour >= 20 or start_hour < 6:
            night = local_day(a) if start_hour >= 20 else local_day(a) - 1
            nights[night] = max(nights.get(night, 0.0), length)
        _clip_daytime(a, b, day_longest)
    lives.day_longest = [day_longest[d] for d in sorted(day_longest)]
    lives.nights = [nights[n] for n in sorted(nights)]
    _home_hours(lives, per_day, hour_devices, away, len(sensors))
    return lives


def _clip_daytime(a: float, b: float, longest: dict[int, float]) -> None:
    """Credit the part of silence (a, b) inside each day's 08-20 window to that day."""
    for day in range(local_day(a), local_day(b) + 1):
        if day not in longest:
            continue
        lo = day * DAY - LOCAL_OFFSET + DAYTIME[0] * HOUR
        hi = day * DAY - LOCAL_OFFSET + DAYTIME[1] * HOUR
        inside = min(b, hi) - max(a, lo)
        if inside > longest[day]:
            longest[day] = inside


def _home_hours(
    lives: Lives,
    per_day: dict[int, int],
    hour_devices: dict[tuple[int, int], set[str]],
    away: list[tuple[float, float]],
    sensors: int,
) -> None:
    away.sort()
    starts = [a for a, _ in away]
    for day in per_day:
        for hour in range(*DAYTIME):
            middle = day * DAY - LOCAL_OFFSET + (hour + 0.5) * HOUR
            i = int(np.searchsorted(starts, middle, side="right")) - 1
            if i >= 0 and away[i][0] <= middle < away[i][1]:
                continue
            active = len(hour_devices.get((day, hour), ()))
            lives.home_hours += 1
            lives.home_hours_quiet += active == 0
            lives.home_hours_one += active == 1
            lives.home_sensor_share += active / sensors


def lives_by_household(rows: Iterable[Row]) -> dict[str, Lives]:
    """Split rows by household and reduce each (rows of several households, any order)."""
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[1], []).append(row)
    return {hid: home_lives(group) for hid, group in sorted(grouped.items())}


def _pct(values: Iterable[float], q: float, scale: float = 1.0) -> float | None:
    data = np.fromiter(values, dtype=float)
    if data.size == 0:
        return None
    return round(float(np.percentile(data, q, method="inverted_cdf")) / scale, 2)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(lives: Lives) -> dict[str, Any]:
    """The statistics of some lives as JSON-ready numbers (None where nothing to measure)."""
    out: dict[str, Any] = {"households": lives.households, "days_with_data": lives.days}
    days = lives.days
    for name, lo, hi in PERIODS:
        lengths = [s for h, s in lives.silences if lo <= h < hi]
        period: dict[str, Any] = {
            "silences_per_day": round(len(lengths) / days, 2) if days else None
        }
        for hours in THRESHOLDS_H:
            period[f"share_over_{hours}h"] = _share(
                sum(1 for s in lengths if s > hours * HOUR), len(lengths)
            )
        period["over_2h_per_day"] = (
            round(sum(1 for s in lengths if s > 2 * HOUR) / days, 3) if days else None
        )
        out[name] = period
    out["daytime_longest_h"] = {f"p{q}": _pct(lives.day_longest, q, HOUR) for q in (50, 90, 99)}
    out["outings"] = {
        "per_day": round(len(lives.outings) / days, 3) if days else None,
        "p50_h": _pct(lives.outings, 50, HOUR),
        "p90_h": _pct(lives.outings, 90, HOUR),
        "share_over_3h": _share(sum(1 for s in lives.outings if s > 3 * HOUR), len(lives.outings)),
    }
    out["absences_per_100_days"] = round(100 * lives.absences / days, 2) if days else None
    out["night_longest_h"] = {f"p{q}": _pct(lives.nights, q, HOUR) for q in (10, 50, 90)}
    home = lives.home_hours
    out["home_hours"] = {
        "hours": home,
        "share_quiet": _share(lives.home_hours_quiet, home),
        "share_one_sensor": _share(lives.home_hours_one, home),
        "sensor_share": round(lives.home_sensor_share / home, 4) if home else None,
    }
    out["sensors_median"] = _pct(lives.sensors, 50)
    out["active_hours_per_day"] = {f"p{q}": _pct(lives.day_hours, q) for q in (10, 50, 90)}
    out["events_per_day"] = {f"p{q}": _pct(lives.day_events, q) for q in (10, 50, 90)}
    return out


def real_lives(directory: Any) -> dict[str, Lives]:
    """Every household in every ``*.csv`` backtest file in ``directory``, by file and id.

    Args:
        directory: a :class:`pathlib.Path` holding the logs.

    Raises:
        FileNotFoundError: no CSV file in ``directory``.
    """
    from detectors.backtest import read_csv

    files = sorted(directory.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {directory}")
    homes: dict[str, Lives] = {}
    for path in files:
        by_id = lives_by_household(read_csv(path))
        for hid, lives in by_id.items():
            homes[path.stem if len(by_id) == 1 else f"{path.stem}:{hid}"] = lives
    return homes


def simulated_rows(households: int, days: int, seed: int) -> Iterator[list[Row]]:
    """Each of the simulator's households' rows, as ``anbu bench quality`` makes them."""
    from bench.quality import BENCH_OPTIONS
    from simulator.world import Simulation, SimulationConfig

    simulation = Simulation(
        SimulationConfig(households=households, days=days, seed=seed, options=BENCH_OPTIONS)
    )
    for index in range(households):
        yield [
            (e.t, e.household_id, e.device_id, e.kind, e.value)
            for e in simulation.household_events(index)
        ]


def simulated_lives(households: int, days: int, seed: int) -> Lives:
    """The simulator's households as ``anbu bench quality`` makes them, pooled."""
    pooled = Lives()
    for rows in simulated_rows(households, days, seed):
        pooled.merge(home_lives(rows))
    return pooled


def pool(homes: Iterable[Lives]) -> Lives:
    """All ``homes`` pooled into one (the inputs are left as they are)."""
    pooled = Lives()
    for lives in homes:
        pooled.merge(lives)
    return pooled
