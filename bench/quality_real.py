"""Detection quality on real homes: backtest-format CSV logs of people living alone.

Every ``*.csv`` in a folder is read with :func:`detectors.backtest.read_csv` and run through
the detector core the worker runs (``make_engine`` + ``run_rows``), once for each detector
setting, on the same rows. No registry: every household has the defaults, and the entrance
door is the ``door`` kind, as in ``anbu backtest``. The protocol is the one of the datasets'
README (``/work/shared/datasets/README.md``):

* **False alarms.** The whole log is replayed. An ask-first alert (``inactivity``,
  ``inactivity_routine``, ``not_back``, ``away_overrun``) raised in a silence that ended
  within 24 h of its start is a false alarm of ordinary life; one inside a longer silence (a
  trip, a stopped recorder) or at the end of the log is counted apart. Rate per 100 days
  with data (local days with at least one sensor event).
* **Time to detect a made collapse.** Cuts at active daytime moments (08-20 h local; at
  least :data:`MIN_RECENT` sensor events in the 30 minutes up to it; the last event not the
  entrance door). Every event up to the cut is kept, and the gateway's hourly heartbeats go
  on for 48 h after it. Time to detect = the first care alert (neither SOS nor a health
  kind) raised after the cut. Reported by the home's age at the cut, in days with data
  before the cut's day (a recording hole adds no history): 3-6, 7-13 and 14 and more. Cuts
  are chosen deterministically: each age bucket's candidates are split into ``cuts`` equal
  runs, and one is drawn from each with a random generator seeded by the seed, the home and
  the bucket.

Each detector replays a log once: at every cut, in time order, the household's state is
packed (:mod:`detectors.packing`, as the worker keeps idle households) and unpacked into a
fresh engine that gets the 48 h of heartbeats, so a cut costs its heartbeats, not a replay of
its history. The logs and the choice of cuts are in :mod:`bench.real_homes` (their names are
importable from here too).
"""
from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from anbu.events import HEALTH_KINDS, AlertAction, AlertEvent, AlertKind
from bench.real_homes import (
    BUCKETS,
    DAY,
    DAYTIME,
    HOUR,
    LOCAL_OFFSET,
    MIN_RECENT,
    RECENT,
    Home,
    candidate_cuts,
    choose_cuts,
    history_days,
    is_activity,
    load_homes,
    local_hour,
    silences,
)
from config.sections import DetectorSettings
from detectors.backtest import make_engine, run_rows
from detectors.engine import Engine
from detectors.packing import pack, unpack
from detectors.params import DetectorParams

__all__ = [
    "AFTER_CUT", "ASK_FIRST", "BUCKETS", "CARE", "DAY", "DAYTIME", "HOUR", "LOCAL_OFFSET",
    "MIN_RECENT", "ORDINARY", "RECENT", "FalseAlarms", "Home", "HomeRun", "candidate_cuts",
    "choose_cuts", "classify_alerts", "default_detectors", "detect_after_cut",
    "detector_params", "draw_home", "history_days", "is_activity", "load_homes", "local_hour",
    "run", "run_home", "silences", "threshold_by_hour", "ttd_figures",
]

AFTER_CUT = 48 * HOUR
ORDINARY = 24 * HOUR  # a silence that ended within this is ordinary life
ASK_FIRST = frozenset(
    k.value for k in (AlertKind.INACTIVITY, AlertKind.INACTIVITY_ROUTINE, AlertKind.NOT_BACK,
                      AlertKind.AWAY_OVERRUN)
)
CARE = frozenset(k.value for k in AlertKind) - {k.value for k in HEALTH_KINDS} - {"sos"}


# -- false alarms


@dataclass(slots=True)
class FalseAlarms:
    """Ask-first alerts over a whole log, sorted by the silence they were raised in."""

    ordinary: list[dict[str, Any]] = field(default_factory=list)
    long_silence: list[dict[str, Any]] = field(default_factory=list)


def classify_alerts(home: Home, alerts: Iterable[AlertEvent]) -> FalseAlarms:
    """Split ask-first raises into false alarms (silence over within 24 h) and the rest."""
    out = FalseAlarms()
    act = home.activity
    for a in alerts:
        if a.action is not AlertAction.RAISE or a.kind.value not in ASK_FIRST:
            continue
        at = a.raised_at.timestamp()
        i = bisect.bisect_right(act, at)
        start = act[i - 1] if i else home.first
        end = act[i] if i < len(act) else None
        item = {"kind": a.kind.value, "raised_at": round(at), "silence_start": round(start),
                "silence_h": None if end is None else round((end - start) / HOUR, 2),
                "after_h": round((at - start) / HOUR, 2), "reason": a.reason}
        if end is not None and end - start < ORDINARY:
            out.ordinary.append(item)
        else:
            out.long_silence.append(item)
    return out


# -- a detector over a home


def detect_after_cut(engine: Engine, hid: str, cut: float, p: DetectorParams) -> float | None:
    """Hours from the cut to the first care alert, over 48 h of heartbeats (None: none)."""
    h = engine.households.get(hid)
    if h is None:
        return None
    probe = make_engine(params=p)
    probe.now = cut
    probe.adopt(unpack(hid, pack(h)))
    first_hb = math.floor(cut / HOUR + 1) * HOUR
    beats = [(first_hb + k * HOUR, hid, f"{hid}-gw", "heartbeat", 1.0) for k in range(48)]
    end = cut + AFTER_CUT
    for alert in [*probe.advance(cut), *run_rows(probe, beats), *probe.advance(end)]:
        if alert.action is AlertAction.RAISE and alert.kind.value in CARE:
            at = alert.raised_at.timestamp()
            if at >= cut:
                return (at - cut) / HOUR if at <= end else None
    return None


def threshold_by_hour(engine: Engine, home: Home, p: DetectorParams) -> list[float | None]:
    """When the detector would alert for a silence starting at each hour of the next day.

    A probe per hour: the final state, then one event of the resident's most frequent
    sensor at that hour, then heartbeats. Hours until the first care alert (None: not in 48 h).
    """
    counts: dict[tuple[str, str], int] = {}
    for _, _, dev, kind, value in home.rows:
        if is_activity(kind, value) and kind != "door":
            counts[(dev, kind)] = counts.get((dev, kind), 0) + 1
    h = engine.households.get(home.household_id)
    if not counts or h is None:
        return [None] * 24
    dev, kind = max(counts, key=lambda k: counts[k])
    saved = pack(h)
    day0 = math.floor((home.last + LOCAL_OFFSET) / DAY + 1) * DAY - LOCAL_OFFSET
    out: list[float | None] = []
    for hour in range(24):
        t = day0 + hour * HOUR + 1.0
        probe = make_engine(params=p)
        probe.now = home.last
        probe.adopt(unpack(home.household_id, saved))
        list(run_rows(probe, [(t, home.household_id, dev, kind, 1.0)]))
        beats = [(t + k * HOUR, home.household_id, f"{home.household_id}-gw", "heartbeat", 1.0)
                 for k in range(1, 49)]
        found = None
        for alert in [*run_rows(probe, beats), *probe.advance(t + AFTER_CUT)]:
            if alert.action is AlertAction.RAISE and alert.kind.value in CARE:
                found = (alert.raised_at.timestamp() - t) / HOUR
                break
        out.append(found)
    return out


@dataclass(slots=True)
class HomeRun:
    """One detector over one home."""

    false_alarms: FalseAlarms
    ttd_h: dict[str, list[float | None]]
    threshold_h: list[float | None]
    seconds: float
    events: int


def run_home(home: Home, p: DetectorParams, chosen: dict[str, list[int]]) -> HomeRun:
    """Replay ``home`` once with ``p``: false alarms, every cut's time to detect, thresholds."""
    began = time.perf_counter()
    engine = make_engine(params=p)
    alerts: list[AlertEvent] = []
    ttd: dict[str, list[float | None]] = {name: [] for name in chosen}
    cut_list = sorted((pos, name) for name, positions in chosen.items() for pos in positions)
    done = 0
    rows = home.rows
    for pos, name in cut_list:
        alerts += run_rows(engine, rows[done:pos])
        done = pos
        cut = rows[pos - 1][0]
        ttd[name].append(detect_after_cut(engine, home.household_id, cut, p))
    alerts += run_rows(engine, rows[done:])
    alerts += engine.advance(home.last)
    thresholds = threshold_by_hour(engine, home, p)
    return HomeRun(classify_alerts(home, alerts), ttd, thresholds,
                   time.perf_counter() - began, len(rows))


# -- figures


def ttd_figures(values: list[float | None]) -> dict[str, Any]:
    """Median, p90 (nearest rank; undetected in 48 h ranks last), share within 2 h and 12 h."""
    n = len(values)
    if not n:
        return {"cuts": 0}
    ordered = sorted(math.inf if v is None else v for v in values)

    def rank(q: float) -> float | None:
        v = ordered[max(1, math.ceil(q / 100 * n)) - 1]
        return None if v == math.inf else round(v, 2)

    return {
        "cuts": n,
        "median_h": rank(50),
        "p90_h": rank(90),
        "max_h": rank(100),
        "within_2h": round(sum(v <= 2 for v in ordered) / n, 3),
        "within_12h": round(sum(v <= 12 for v in ordered) / n, 3),
        "within_24h": round(sum(v <= 24 for v in ordered) / n, 3),
        "undetected_48h": sum(v == math.inf for v in ordered),
    }


def detector_params(
    routine: bool = True, budget: float | None = None, model: str | None = None,
    settings: DetectorSettings | None = None,
) -> DetectorParams:
    """The settings (default: the defaults); or the fixed rule alone, another budget or model."""
    p = DetectorParams.from_settings(settings or DetectorSettings())
    if not routine:
        return replace(p, routine_allowed=False)
    if budget is not None:
        p = p.with_budget(budget)
    if model is not None:
        p = replace(p, routine_model=model)
    return p


def default_detectors(settings: DetectorSettings | None = None) -> dict[str, DetectorParams]:
    """The detectors compared in one run.

    ``routine``: the default (silences model, 5 alerts per 100 days); ``direct``: the same
    with the direct-to-worker budget (1 per 100 days); ``old``: the rates model of
    2026-11-22 (``routine_model = "rates"``); ``fixed``: the fixed 24 h rule alone.
    """
    s = settings
    return {"routine": detector_params(settings=s),
            "direct": detector_params(budget=1.0, settings=s),
            "old": detector_params(model="rates", settings=s),
            "fixed": detector_params(routine=False, settings=s)}


def run(
    directory: Path,
    *,
    cuts: int = 20,
    seed: int = 13,
    detectors: dict[str, DetectorParams] | None = None,
    pictures: Path | None = None,
) -> dict[str, Any]:
    """Measure every detector on every home of ``directory``; return the figures.

    Args:
        directory: a folder of backtest CSV logs.
        cuts: made collapses per home and age bucket (fewer where the log has fewer).
        seed: the cut choice's seed.
        detectors: name -> thresholds; default :func:`default_detectors`.
        pictures: write one PNG per home here (silences by hour, thresholds over them).
    """
    began = time.perf_counter()
    detectors = detectors or default_detectors()
    homes = load_homes(directory)
    if not homes:
        raise FileNotFoundError(f"no *.csv logs in {directory}")
    out: dict[str, Any] = {"directory": str(directory), "cuts_per_bucket": cuts, "seed": seed,
                           "homes": {}, "pooled": {}}
    ttd_all: dict[str, dict[str, list[float | None]]] = {
        d: {b[0]: [] for b in BUCKETS} for d in detectors}
    fa_all = dict.fromkeys(detectors, 0)
    apart_all = dict.fromkeys(detectors, 0)
    events_all = dict.fromkeys(detectors, 0)
    seconds_all = dict.fromkeys(detectors, 0.0)
    days_all = 0
    for home in homes:
        chosen = choose_cuts(home, cuts, seed)
        entry: dict[str, Any] = {"days_with_data": home.days_with_data,
                                 "span_days": round((home.last - home.first) / DAY, 1),
                                 "events": len(home.rows), "detectors": {}}
        days_all += home.days_with_data
        thresholds: dict[str, list[float | None]] = {}
        for name, p in detectors.items():
            result = run_home(home, p, chosen)
            fa = result.false_alarms
            entry["detectors"][name] = {
                "false_alarms": len(fa.ordinary),
                "false_alarms_per_100_days": round(100 * len(fa.ordinary) / home.days_with_data, 1)
                if home.days_with_data else None,
                "false_alarms_by_kind": _by_kind(fa.ordinary),
                "alerts_in_long_silences": len(fa.long_silence),
                "ttd": {b: ttd_figures(v) for b, v in result.ttd_h.items()},
                "threshold_by_hour_h": [None if v is None else round(v, 2)
                                        for v in result.threshold_h],
                "false_alarm_list": fa.ordinary,
                "seconds": round(result.seconds, 2),
            }
            thresholds[name] = result.threshold_h
            fa_all[name] += len(fa.ordinary)
            apart_all[name] += len(fa.long_silence)
            events_all[name] += result.events
            seconds_all[name] += result.seconds
            for b, v in result.ttd_h.items():
                ttd_all[name][b] += v
        out["homes"][home.name] = entry
        if pictures is not None:
            draw_home(home, thresholds, pictures / f"quality-real-{home.name}.png")
    out["days_with_data"] = days_all
    for name in detectors:
        out["pooled"][name] = {
            "false_alarms": fa_all[name],
            "false_alarms_per_100_days": round(100 * fa_all[name] / days_all, 2),
            "worst_home_per_100_days": max(
                e["detectors"][name]["false_alarms_per_100_days"] or 0.0
                for e in out["homes"].values()),
            "alerts_in_long_silences": apart_all[name],
            "ttd": {b: ttd_figures(v) for b, v in ttd_all[name].items()},
            "events_per_s": round(events_all[name] / seconds_all[name]) if seconds_all[name]
            else None,
        }
    out["seconds"] = round(time.perf_counter() - began, 1)
    return out


def _by_kind(items: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item["kind"]] = out.get(item["kind"], 0) + 1
    return dict(sorted(out.items()))


def draw_home(home: Home, thresholds: dict[str, list[float | None]], path: Path) -> None:
    """The resident's silences by hour of day, with each detector's alert threshold over them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 5))
    gaps = silences(home)
    ax.scatter([local_hour(s) for s, _ in gaps], [min(g / HOUR, 60.0) for _, g in gaps],
               s=6, alpha=0.35, color="tab:gray", label="silences (gap between events)")
    styles = {"routine": "tab:red", "direct": "tab:purple", "fixed": "tab:blue",
              "old": "tab:orange"}
    for name, values in thresholds.items():
        xs = [h + 0.5 for h, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        ax.step(xs, ys, where="mid", color=styles.get(name, "black"), linewidth=2,
                label=f"alert after ({name})")
    ax.set_yscale("log")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    ax.set_xlabel("hour of day the silence began (local)")
    ax.set_ylabel("hours (log scale; trips clipped at 60 h)")
    ax.set_title(f"{home.name}: {home.days_with_data} days with data")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
