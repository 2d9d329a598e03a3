"""Real homes' logs for :mod:`bench.quality_real`: the households, and where to cut them.

Every ``*.csv`` in a folder (backtest format, read with :func:`detectors.backtest.read_csv`)
gives one :class:`Home` per household. A made collapse is a cut at an active daytime moment
(08-20 h local; at least :data:`MIN_RECENT` sensor events in the 30 minutes up to it; the
last event not the entrance door), reported by the home's age at the cut in days with data
before the cut's day: 3-6, 7-13 and 14 and more (:data:`BUCKETS`). Cuts are chosen
deterministically (:func:`choose_cuts`).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from pathlib import Path

from detectors.backtest import Row, read_csv

HOUR = 3600.0
DAY = 86400.0
LOCAL_OFFSET = 9 * HOUR  # the logs are labelled +09:00; the detectors work in Asia/Seoul
RECENT = 30 * 60.0
MIN_RECENT = 3  # "several sensor events in the last 30 minutes"
DAYTIME = (8, 20)
BUCKETS = (("day 3", 3.0, 7.0), ("day 7", 7.0, 14.0), ("day 14+", 14.0, math.inf))


@dataclass(frozen=True, slots=True)
class Home:
    """One household's log."""

    name: str
    household_id: str
    rows: list[Row]
    activity: list[float]
    """Times of sensor events that show a person (no heartbeats, no motion clearing)."""
    days_with_data: int

    @property
    def first(self) -> float:
        """The log's first row."""
        return self.rows[0][0]

    @property
    def last(self) -> float:
        """The log's last row."""
        return self.rows[-1][0]


def is_activity(kind: str, value: float) -> bool:
    """Whether a row shows a person: any sensor change but heartbeats and a PIR clearing."""
    if kind == "heartbeat":
        return False
    return value >= 0.5 or kind in ("door", "contact", "presence")


def load_homes(directory: Path) -> list[Home]:
    """Every household of every ``*.csv`` in ``directory`` (named by file, or file:household)."""
    homes = []
    for path in sorted(directory.glob("*.csv")):
        rows = read_csv(path)
        by_household: dict[str, list[Row]] = {}
        for row in rows:
            by_household.setdefault(row[1], []).append(row)
        for hid, own in by_household.items():
            name = path.stem if len(by_household) == 1 else f"{path.stem}:{hid}"
            activity = [r[0] for r in own if is_activity(r[3], r[4])]
            days = len({int((t + LOCAL_OFFSET) // DAY) for t in activity})
            homes.append(Home(name, hid, own, activity, days))
    return homes


def local_hour(t: float) -> float:
    """Hour of the day (fractional) in the logs' local time."""
    return (t + LOCAL_OFFSET) % DAY / HOUR


def candidate_cuts(home: Home) -> list[int]:
    """Row positions after which a cut may be made (the cut keeps rows ``[0, pos)``)."""
    rows = home.rows
    act = home.activity
    out = []
    for pos in range(1, len(rows) + 1):
        t, _, _, kind, value = rows[pos - 1]
        if pos < len(rows) and rows[pos][0] == t:
            continue  # keep every row of the same instant
        if not is_activity(kind, value) or kind == "door":
            continue
        if not DAYTIME[0] <= local_hour(t) < DAYTIME[1]:
            continue
        recent = bisect.bisect_right(act, t) - bisect.bisect_left(act, t - RECENT)
        if recent >= MIN_RECENT:
            out.append(pos)
    return out


def history_days(days: list[int], t: float) -> int:
    """Days with data before the day of ``t``: the home's age as the detector saw it."""
    return bisect.bisect_left(days, int((t + LOCAL_OFFSET) // DAY))


def choose_cuts(home: Home, cuts: int, seed: int) -> dict[str, list[int]]:
    """``cuts`` positions per age bucket, spread over the log, the same on every run."""
    chosen: dict[str, list[int]] = {}
    candidates = candidate_cuts(home)
    days = sorted({int((t + LOCAL_OFFSET) // DAY) for t in home.activity})
    for name, lo, hi in BUCKETS:
        inside = [p for p in candidates
                  if lo <= history_days(days, home.rows[p - 1][0]) < hi]
        rng = random.Random(f"{seed}:{home.name}:{name}")
        if len(inside) <= cuts:
            chosen[name] = inside
            continue
        picks = []
        for k in range(cuts):
            a = k * len(inside) // cuts
            b = (k + 1) * len(inside) // cuts
            picks.append(inside[rng.randrange(a, b)])
        chosen[name] = picks
    return chosen


def silences(home: Home, shortest: float = 15 * 60.0) -> list[tuple[float, float]]:
    """(start time, length in seconds) of each gap between activity at least ``shortest``."""
    act = home.activity
    return [(a, b - a) for a, b in zip(act, act[1:], strict=False) if b - a >= shortest]
