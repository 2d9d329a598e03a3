"""What the alert budget buys on real logs: false alarms against speed, and the floor under it.

``python -m bench.frontier /work/shared/datasets`` prints two tables and writes
``bench-results/frontier.json``:

1. **The trade-off.** The routine-aware detector (the default settings) run by
   :mod:`bench.quality_real` at several alert budgets: ask-first false alarms per 100 days
   (pooled and the worst home) against the time to detect a made collapse (median and p90
   from day 14, share within 12 h; median from day 3).
2. **The floor.** Per home, from the log alone: how often a daytime silence that begins at an
   active moment (the moments the collapses are made at, :func:`bench.quality_real.
   candidate_cuts`) lasts ``x`` hours or more and ends within 24 h (ordinary life), for
   ``x`` = 1.5 h and 4 h. Then the fewest false alarms any detector whose threshold depends
   on the hour of day alone must raise to detect half of the made collapses within 1.5 h (the
   median goal) or nine in ten within 4 h (the p90 goal): the hours with the fewest long
   silences per active moment are given the short threshold first, in hindsight, with the
   last hour taken in part (a linear-programme bound, so no such detector does better on
   that log). A detector may also use the sensor of the last activity: the last column
   learns the cheapest (3-hour band, sensor) contexts on the first half of each log and
   counts their false alarms on the second half (an estimate, not a bound).

The figures are what issue #13's goal is set against; ``docs/benchmarks.md`` quotes them.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

from bench.quality_real import (
    DAY,
    HOUR,
    LOCAL_OFFSET,
    Home,
    candidate_cuts,
    detector_params,
    load_homes,
    run,
)

BUDGETS = (1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
"""Alert budgets (per 100 household-days) the trade-off is measured at."""
GOALS = ((1.5, 0.5), (4.0, 0.9))
"""(hours, share of made collapses): the median and p90 goals of issue #13."""
ORDINARY_S = 24 * 3600.0  # a longer silence is a trip or a stopped recorder, counted apart
Moments = Sequence[tuple[float, str, float]]
"""(time, sensor, seconds to the next activity) at active moments (:func:`active_silences`)."""


def tradeoff(directory: Path, budgets: Sequence[float] = BUDGETS) -> list[dict[str, Any]]:
    """The routine detector's pooled figures at each alert budget (per 100 days)."""
    # one replay of the logs for every budget: the homes are read and the cuts chosen once
    names = [f"budget {i}" for i in range(len(budgets))]
    figures = run(directory, detectors={name: detector_params(budget=budget)
                                        for name, budget in zip(names, budgets, strict=True)})
    rows = []
    for name, budget in zip(names, budgets, strict=True):
        pooled = figures["pooled"][name]
        late, early = pooled["ttd"]["day 14+"], pooled["ttd"]["day 3"]
        rows.append({"budget": budget,
                     "false_alarms_per_100_days": pooled["false_alarms_per_100_days"],
                     "worst_home_per_100_days": pooled["worst_home_per_100_days"],
                     "day14_median_h": late.get("median_h"), "day14_p90_h": late.get("p90_h"),
                     "day14_within_12h": late.get("within_12h"),
                     "day3_median_h": early.get("median_h")})
    return rows


def active_silences(home: Home) -> list[tuple[float, str, float]]:
    """(time, sensor, seconds to the next activity) at each active daytime moment of ``home``.

    The silence is ``inf`` where no activity follows (the log's end).
    """
    out = []
    for pos in candidate_cuts(home):
        t, _, device, _, _ = home.rows[pos - 1]
        i = bisect.bisect_right(home.activity, t)
        gap = home.activity[i] - t if i < len(home.activity) else math.inf
        out.append((t, device, gap))
    return out


def long_count(moments: Moments, hours: float) -> int:
    """Moments followed by a silence of ``hours`` or more that ended within 24 h."""
    return sum(hours * HOUR <= gap < ORDINARY_S for _, _, gap in moments)


def cheapest_cover(groups: dict[Hashable, tuple[int, int]], share: float) -> float:
    """Fewest long silences over groups covering ``share`` of the moments (the last in part).

    Args:
        groups: key -> (moments, moments followed by a long silence).
        share: the part of all moments to cover.
    """
    need = share * sum(w for w, _ in groups.values())
    cost = 0.0
    for w, long in sorted(groups.values(), key=lambda g: g[1] / g[0]):
        if need <= 0:
            break
        take = min(1.0, need / w)
        cost += take * long
        need -= take * w
    return cost


def _grouped(moments: Moments, hours: float,
             key: Callable[[float, str], Hashable]) -> dict[Hashable, tuple[int, int]]:
    groups: dict[Hashable, tuple[int, int]] = {}
    for t, device, gap in moments:
        w, long = groups.get(key(t, device), (0, 0))
        groups[key(t, device)] = (w + 1, long + (hours * HOUR <= gap < ORDINARY_S))
    return groups


def _hour(t: float, _device: str) -> int:
    return int((t + LOCAL_OFFSET) % DAY // HOUR)


def _band_and_sensor(t: float, device: str) -> tuple[int, str]:
    return _hour(t, device) // 3, device


def halves(moments: Moments) -> tuple[Moments, Moments]:
    """The moments before and after the middle of their time span."""
    if not moments:
        return [], []
    middle = (moments[0][0] + moments[-1][0]) / 2
    return [m for m in moments if m[0] < middle], [m for m in moments if m[0] >= middle]


def learned_cover(first: Moments, second: Moments, hours: float, share: float
                  ) -> tuple[float, float]:
    """Contexts (3-hour band, sensor) chosen on ``first``, judged on ``second``.

    Returns:
        (share of the second half's moments in the chosen contexts, their long silences).
    """
    groups = _grouped(first, hours, _band_and_sensor)
    need = share * len(first)
    chosen = set()
    # half a long silence and one moment of prior keep an unseen context from looking free
    for key, (w, _) in sorted(groups.items(), key=lambda g: (g[1][1] + 0.5) / (g[1][0] + 1)):
        if need <= 0:
            break
        chosen.add(key)
        need -= w
    inside = [m for m in second if _band_and_sensor(m[0], m[1]) in chosen]
    return len(inside) / max(1, len(second)), float(long_count(inside, hours))


def _days(moments: Moments) -> int:
    return len({int((t + LOCAL_OFFSET) // DAY) for t, _, _ in moments})


def floor(directory: Path) -> dict[str, dict[str, Any]]:
    """Per home: long silences after active moments, and the hour-only and learned covers."""
    out: dict[str, dict[str, Any]] = {}
    for home in load_homes(directory):
        moments = active_silences(home)
        days = home.days_with_data
        first, second = halves(moments)
        second_days = _days(second)
        entry: dict[str, Any] = {"days_with_data": days, "active_moments": len(moments)}
        for hours, share in GOALS:
            per = 100.0 / days if days else math.nan
            covered, learned = learned_cover(first, second, hours, share)
            bound = cheapest_cover(_grouped(moments, hours, _hour), share)
            long = long_count(moments, hours)
            entry[f"{hours:g}h"] = {
                "long_silences_per_100_days": round(long * per, 1),
                "hour_only_bound_per_100_days": round(bound * per, 1),
                "learned_share": round(covered, 2),
                "learned_per_100_days": round(100.0 * learned / second_days, 1)
                if second_days else None,
                "counts": {"long": long, "bound": bound,
                           "learned": learned, "second_half_days": second_days},
            }
        out[home.name] = entry
    out["pooled"] = _pooled(out)
    return out


def _pooled(homes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The homes' counts summed over their days (the learned share weighted by moments)."""
    days = sum(e["days_with_data"] for e in homes.values())
    entry: dict[str, Any] = {"days_with_data": days,
                             "active_moments": sum(e["active_moments"] for e in homes.values())}
    for hours, _ in GOALS:
        g = [e[f"{hours:g}h"] for e in homes.values()]
        halves = sum(x["counts"]["second_half_days"] for x in g)
        weights = [e["active_moments"] for e in homes.values()]
        entry[f"{hours:g}h"] = {
            "long_silences_per_100_days": round(100.0 * sum(x["counts"]["long"] for x in g)
                                                / days, 1),
            "hour_only_bound_per_100_days": round(100.0 * sum(x["counts"]["bound"] for x in g)
                                                  / days, 1),
            "learned_share": round(sum(x["learned_share"] * w for x, w in zip(g, weights,
                                                                              strict=True))
                                   / max(1, sum(weights)), 2),
            "learned_per_100_days": round(100.0 * sum(x["counts"]["learned"] for x in g)
                                          / halves, 1) if halves else None,
        }
    return entry


def report(trade: list[dict[str, Any]], bounds: dict[str, dict[str, Any]]) -> str:
    """The two tables as text."""
    lines = ["budget  FA/100d  worst   day 14+ median/p90  <=12h   day 3 median"]
    for r in trade:
        lines.append(
            f"{r['budget']:6g}  {r['false_alarms_per_100_days']:7.2f}  "
            f"{r['worst_home_per_100_days']:5.1f}   {r['day14_median_h']:6.1f} / "
            f"{r['day14_p90_h']:5.1f} h   {100 * r['day14_within_12h']:4.0f}%   "
            f"{r['day3_median_h']:6.1f} h")
    lines += ["", "per 100 days      >=1.5 h after an active moment   >=4 h",
              "home          days   all  hour-bound  learned      all  hour-bound  learned"]
    for name, e in bounds.items():
        cells = []
        for hours, _ in GOALS:
            g = e[f"{hours:g}h"]
            learned = ("-" if g["learned_per_100_days"] is None else
                       f"{g['learned_per_100_days']:.1f} @{100 * g['learned_share']:.0f}%")
            cells.append(f"{g['long_silences_per_100_days']:5.1f}  "
                         f"{g['hour_only_bound_per_100_days']:10.1f}  {learned:>11s}")
        lines.append(f"{name:12s} {e['days_with_data']:4d}  " + "  ".join(cells))
    lines += ["hour-bound: fewest false alarms per 100 days of any hour-of-day threshold that "
              "detects half the made collapses within 1.5 h (nine in ten within 4 h), in "
              "hindsight; learned: (band, sensor) contexts learned on the first half of the "
              "log, false alarms and share of collapses covered on the second half"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print both tables for a folder of logs and write the JSON beside the other results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--budgets", default=",".join(f"{b:g}" for b in BUDGETS),
                        help="alert budgets per 100 days, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("bench-results/frontier.json"))
    args = parser.parse_args(argv)
    trade = tradeoff(args.directory, [float(b) for b in args.budgets.split(",")])
    bounds = floor(args.directory)
    print(report(trade, bounds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"tradeoff": trade, "floor": bounds}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
