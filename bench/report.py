"""The benchmark report: one table, one JSON file with every figure, and plots (PNG).

Every figure the issue asks for has a row, whether measured or not: a figure that could not
be measured is ``null`` in the JSON with the reason beside it, and "n/a (reason)" in the
table. Nothing is filled in by hand.
"""

from __future__ import annotations

import json
import platform
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from anbu.timeutil import SEOUL, utcnow


@dataclass(frozen=True, slots=True)
class Figure:
    """One row of the report.

    Attributes:
        key: JSON name (``pipeline_events_per_s``).
        label: what the table says.
        unit: unit shown after the number.
        goal: the goal in words, if the issue sets one.
        meets: given the value, whether it meets the goal (None: no goal).
    """

    key: str
    label: str
    unit: str
    goal: str | None = None
    meets: Callable[[float], bool] | None = None


FIGURES: list[Figure] = [
    Figure("mqtt_raw_msgs_per_s", "plain MQTT subscriber (raw limit)", "msg/s"),
    Figure("mqtt_raw_events_per_s", "  the same in device events", "ev/s"),
    Figure("kafka_raw_records_per_s", "raw aiokafka consumer (raw limit)", "rec/s"),
    Figure("kafka_raw_events_per_s", "  the same in device events", "ev/s"),
    Figure("bridge_events_per_s", "bridge (MQTT -> Kafka acked)", "ev/s"),
    Figure("bridge_ratio", "bridge / plain MQTT subscriber", "x"),
    Figure("worker_events_per_s", "detector worker", "ev/s"),
    Figure("worker_ratio", "worker / raw aiokafka consumer", "x", ">= 0.5", lambda v: v >= 0.5),
    Figure("bare_ratio", "  detector core without Faust / raw", "x"),
    Figure(
        "pipeline_events_per_s",
        "whole pipeline, sustained",
        "ev/s",
        ">= 20,000",
        lambda v: v >= 20_000,
    ),
    Figure("pipeline_ratio", "pipeline / plain MQTT subscriber", "x"),
    Figure("sos_p50_ms", "SOS publish -> alert stored + webhook, p50", "ms"),
    Figure(
        "sos_p99_ms", "SOS publish -> alert stored + webhook, p99", "ms", "< 250", lambda v: v < 250
    ),
    Figure("inactivity_lag_p50_ms", "inactivity alert lag after deadline, p50", "ms"),
    Figure(
        "inactivity_lag_p99_ms",
        "inactivity alert lag after deadline, p99",
        "ms",
        "< 1000",
        lambda v: v < 1000,
    ),
    Figure(
        "detector_bytes_per_household",
        "detector memory per household (100k)",
        "B",
        "< 1024",
        lambda v: v < 1024,
    ),
    Figure("quality_routine_recall", "routine-aware: collapses detected", "x"),
    Figure(
        "quality_routine_recall_12h",
        "routine-aware: detected within 12 h",
        "x",
        "100%",
        lambda v: v >= 1.0,
    ),
    Figure(
        "quality_routine_ttd_median_h",
        "routine-aware: daytime collapse, median",
        "h",
        "< 2",
        lambda v: v < 2,
    ),
    Figure("quality_routine_ttd_p90_h", "routine-aware: daytime collapse, p90", "h"),
    Figure(
        "quality_routine_false_per_100",
        "routine-aware: false alarms / 100 hh-days",
        "",
        "< 1",
        lambda v: v < 1,
    ),
    Figure("quality_fixed_recall", "fixed 24 h rule: collapses detected", "x"),
    Figure("quality_fixed_recall_12h", "fixed 24 h rule: detected within 12 h", "x"),
    Figure("quality_fixed_ttd_median_h", "fixed 24 h rule: daytime collapse, median", "h"),
    Figure("quality_fixed_ttd_p90_h", "fixed 24 h rule: daytime collapse, p90", "h"),
    Figure("quality_fixed_false_per_100", "fixed 24 h rule: false alarms / 100 hh-days", ""),
]


class Report:
    """Figures gathered from the benchmarks, with the reason for each one missing."""

    def __init__(self) -> None:
        self.values: dict[str, float | None] = {f.key: None for f in FIGURES}
        self.reasons: dict[str, str] = {}
        self.details: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.started = utcnow()

    def set(self, key: str, value: float | None, reason: str | None = None) -> None:
        """Record a figure (None with a reason when it could not be measured)."""
        self.values[key] = None if value is None else float(value)
        if value is None:
            self.reasons[key] = reason or "not measured"
        else:
            self.reasons.pop(key, None)

    def missing(self, keys: list[str], reason: str) -> None:
        """Mark several figures as not measured, for the same reason."""
        for key in keys:
            if self.values.get(key) is None:
                self.set(key, None, reason)

    def to_json(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return {
            "started": self.started.isoformat(),
            "finished": utcnow().isoformat(),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "figures": {
                f.key: {
                    "label": f.label,
                    "value": self.values.get(f.key),
                    "unit": f.unit,
                    "goal": f.goal,
                    "meets_goal": (
                        None
                        if f.meets is None or self.values.get(f.key) is None
                        else bool(f.meets(self.values[f.key]))  # type: ignore[arg-type]
                    ),
                    "reason": (
                        None
                        if self.values.get(f.key) is not None
                        else self.reasons.get(f.key, "not measured in this run")
                    ),
                }
                for f in FIGURES
            },
            "stage_seconds": self.seconds,
            "details": self.details,
        }

    def table(self) -> str:
        """The table printed at the end of ``anbu bench``."""
        lines = [f"{'figure':52}{'value':>14}  {'goal':10} verdict", "-" * 90]
        for f in FIGURES:
            value = self.values.get(f.key)
            goal = f.goal or ""
            if value is None:
                lines.append(f"{f.label:52}{'n/a':>14}  {goal:10} {self.reasons.get(f.key, '')}")
                continue
            text = _format(value, f.unit)
            verdict = "" if f.meets is None else ("meets" if f.meets(value) else "MISSES")
            lines.append(f"{f.label:52}{text:>14}  {goal:10} {verdict}")
        return "\n".join(lines)


def _format(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.0%}" if value <= 1.5 else f"{value:.2f}x"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.2f} {unit}".strip()


def write(report: Report, directory: Path) -> dict[str, Path]:
    """Write ``bench.json`` and ``bench.png`` under ``directory``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(SEOUL).strftime("%Y%m%d-%H%M%S")
    data = report.to_json()
    paths = {"json": directory / "bench.json", "png": directory / "bench.png"}
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    paths["json"].write_text(text)
    (directory / f"bench-{stamp}.json").write_text(text)
    (directory / "bench.txt").write_text(report.table() + "\n")
    plot_figures(report, paths["png"])
    return paths


# the charts: title, y axis, goal line and its label, bars (label: figure key)
_PANELS: tuple[tuple[str, str, float, str, dict[str, str]], ...] = (
    ("Throughput (n/a bars: not measured)", "device events per second", 20_000, "pipeline goal",
     {"MQTT raw": "mqtt_raw_events_per_s", "bridge": "bridge_events_per_s",
      "Kafka raw": "kafka_raw_events_per_s", "worker": "worker_events_per_s",
      "pipeline": "pipeline_events_per_s"}),
    ("Latency", "milliseconds", 250, "SOS p99 goal",
     {"SOS p50": "sos_p50_ms", "SOS p99": "sos_p99_ms",
      "inact. lag p50": "inactivity_lag_p50_ms", "inact. lag p99": "inactivity_lag_p99_ms"}),
    ("Detection quality (simulated)", "hours to detect a daytime collapse", 2, "goal",
     {"routine median": "quality_routine_ttd_median_h", "routine p90": "quality_routine_ttd_p90_h",
      "fixed median": "quality_fixed_ttd_median_h", "fixed p90": "quality_fixed_ttd_p90_h"}),
)


def plot_figures(report: Report, path: Path) -> None:
    """Bar charts: rates beside their raw limits, latencies against goals, detection quality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = report.values
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, (title, ylabel, goal, goal_label, keys) in zip(axes, _PANELS, strict=True):
        _bars(ax, [(name, v[key]) for name, key in keys.items()], ylabel,
              goal=goal, goal_label=goal_label)
        ax.set_title(title)
    fig.suptitle(f"anbu bench {datetime.now(SEOUL):%Y-%m-%d %H:%M} (Asia/Seoul)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(
    ax: Any, items: list[tuple[str, float | None]], ylabel: str, *, goal: float, goal_label: str
) -> None:
    labels = [name for name, _ in items]
    heights = [value or 0.0 for _, value in items]
    bars = ax.bar(
        labels, heights, color=["#4c72b0" if value is not None else "#dddddd" for _, value in items]
    )
    for bar, (_, value) in zip(bars, items, strict=True):
        text = "n/a" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.axhline(goal, color="#c44e52", linestyle="--", linewidth=1, label=goal_label)
    ax.legend(fontsize=8)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)


def plot_household_week(path: Path, *, household: int = 1, seed: int = 1) -> dict[str, Any]:
    """Heatmap of one simulated household's week: activity events by day and hour.

    Returns:
        The household's id and its events per hour of day summed over the week, so the
        JSON can show where its activity falls.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simulator.plan import NO_INCIDENTS
    from simulator.world import Simulation, SimulationConfig

    sim = Simulation(
        SimulationConfig(households=1, days=7, seed=seed, rates=NO_INCIDENTS, first_index=household)
    )
    grid = [[0] * 24 for _ in range(7)]
    appliance = [[0.0] * 24 for _ in range(7)]
    by_kind: dict[str, int] = defaultdict(int)
    for e in sim.events():
        local = datetime.fromtimestamp(e.t, SEOUL)
        day = int((e.t - sim.midnight0) // 86400)
        if not 0 <= day < 7:
            continue
        if e.kind in ("motion", "door", "presence", "robot") and e.value >= 1:
            grid[day][local.hour] += 1
            by_kind[e.kind] += 1
        elif e.kind == "power" and e.value > 10:
            appliance[day][local.hour] += 1
    household_id = sim.households[0].household_id
    profile = sim.profile(household_id)
    fig, ax = plt.subplots(figsize=(12, 4))
    image = ax.imshow(grid, aspect="auto", cmap="YlOrRd")
    days = [
        datetime.fromtimestamp(sim.midnight0 + d * 86400 + 43200, SEOUL).strftime("%a %m-%d")
        for d in range(7)
    ]
    ax.set_yticks(range(7), days)
    ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)])
    ax.set_xlabel("hour of day (Asia/Seoul)")
    fig.colorbar(image, ax=ax, label="activity events (motion, door, bed, robot)")
    ax.set_title(
        f"Simulated household {household_id}: one week of activity by hour "
        f"(wakes ~{profile.wake / 3600:.1f} h, bed ~{profile.bed / 3600 % 24:.1f} h)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    per_hour = [sum(grid[d][h] for d in range(7)) for h in range(24)]
    return {
        "household_id": household_id,
        "events_by_hour": per_hour,
        "by_kind": dict(by_kind),
        "wake_h": round(profile.wake / 3600, 2),
        "bed_h": round(profile.bed / 3600 % 24, 2),
    }
