"""``anbu bench quality``: detection quality on simulated households with incidents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def quality_table(figures: dict[str, Any]) -> str:
    """The routine-aware detector beside the fixed 24-hour rule, one line per figure."""
    rows = [
        ("collapses detected (recall)", "recall", "{:.0%}"),
        ("detected within 12 h", "recall_within_12h", "{:.0%}"),
        ("daytime collapse: median time to detect", "daytime_ttd_median_h", "{:.2f} h"),
        ("daytime collapse: 90th percentile", "daytime_ttd_p90_h", "{:.2f} h"),
        ("daytime collapse: slowest", "daytime_ttd_max_h", "{:.2f} h"),
        ("false alarms per 100 household-days", "false_alarms_per_100_household_days", "{:.2f}"),
        ("false alarms", "false_alarms", "{}"),
        ("  of which in registered away periods", "false_alarms_in_registered_away", "{}"),
        ("  of which in gateway outages", "false_alarms_in_gateway_outage", "{}"),
        ("illnesses alerted", "illnesses_alerted", "{}"),
        ("alerts in unregistered trips (justified)", "alerts_in_unregistered_trips", "{}"),
        ("core events/s (one process)", "events_per_s", "{:,}"),
    ]
    lines = [
        f"{figures['households']} households x {figures['days']} days, seed {figures['seed']}: "
        f"{figures['events']:,} events, incidents {figures['incidents']}",
        f"{'':44}{'routine-aware':>16}{'fixed 24 h':>16}",
    ]
    for label, key, fmt in rows:
        cells = []
        for name in ("routine", "fixed"):
            value = figures[name].get(key)
            cells.append("n/a" if value is None else fmt.format(value))
        lines.append(f"{label:44}{cells[0]:>16}{cells[1]:>16}")
    lines.append(f"measured in {figures['seconds']:.0f} s")
    return "\n".join(lines)


def register(bench_app: typer.Typer) -> None:
    """Add ``quality`` to ``anbu bench``."""

    @bench_app.command("quality")
    def quality(
        households: Annotated[int, typer.Option(min=1, help="Simulated households.")] = 500,
        days: Annotated[int, typer.Option(min=7, help="Simulated days.")] = 60,
        seed: Annotated[int, typer.Option(help="Simulation seed.")] = 1,
        workers: Annotated[int, typer.Option(min=0, help="Processes; 0: one per CPU.")] = 0,
        output: Annotated[Path | None, typer.Option(help="Also write the figures here.")] = None,
    ) -> None:
        """Recall and time to detect a collapse, false alarms: routine-aware vs fixed rule."""
        from bench.quality import run

        figures = run(households=households, days=days, seed=seed, workers=workers or None)
        typer.echo(quality_table(figures))
        if output is not None:
            output.write_text(json.dumps(figures, indent=2) + "\n")
