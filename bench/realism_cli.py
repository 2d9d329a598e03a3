"""``anbu bench realism``: the simulator's residents beside real ones, one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.options import Seed, SimulatedDays, SimulatedHouseholds
from bench.output import write_figures
from bench.realism import PERIODS, THRESHOLDS_H

DEFAULT_JSON = Path("bench-results/realism.json")


def _rows() -> list[tuple[str, tuple[str, ...], str]]:
    rows: list[tuple[str, tuple[str, ...], str]] = [
        ("households", ("households",), "{}"),
        ("days with data", ("days_with_data",), "{}"),
    ]
    for name, lo, hi in PERIODS:
        rows.append((f"{name} {lo}-{hi}: silences >= 5 min/day", (name, "silences_per_day"), "{}"))
        for hours in THRESHOLDS_H:
            rows.append((f"  share > {hours} h", (name, f"share_over_{hours}h"), "{:.1%}"))
        rows.append(("  silences > 2 h per day", (name, "over_2h_per_day"), "{:.2f}"))
    rows += _quantiles("longest daytime silence", "daytime_longest_h", (50, 90, 99), "{:.2f} h")
    rows += [
        ("outings per day", ("outings", "per_day"), "{:.2f}"),
        ("outing length p50", ("outings", "p50_h"), "{:.2f} h"),
        ("outing length p90", ("outings", "p90_h"), "{:.2f} h"),
        ("outings > 3 h", ("outings", "share_over_3h"), "{:.1%}"),
        ("absences >= 24 h per 100 days", ("absences_per_100_days",), "{:.1f}"),
    ]
    rows += _quantiles("night sleep (longest)", "night_longest_h", (10, 50, 90), "{:.2f} h")
    rows += [
        ("daytime home hours: no activity", ("home_hours", "share_quiet"), "{:.1%}"),
        ("daytime home hours: one sensor only", ("home_hours", "share_one_sensor"), "{:.1%}"),
        ("  share of sensors active per hour", ("home_hours", "sensor_share"), "{:.1%}"),
        ("activity sensors (median)", ("sensors_median",), "{:.0f}"),
    ]
    rows += _quantiles("active hours per day", "active_hours_per_day", (10, 50, 90), "{:.0f}")
    rows += _quantiles("activity events per day", "events_per_day", (10, 50, 90), "{:.0f}")
    return rows


def _quantiles(
    label: str, key: str, quantiles: tuple[int, ...], fmt: str
) -> list[tuple[str, tuple[str, ...], str]]:
    """The rows of ``key``'s percentiles (``p50`` ...), labelled ``<label> p50``."""
    return [(f"{label} p{q}", (key, f"p{q}"), fmt) for q in quantiles]


def _cell(figures: dict[str, Any], path: tuple[str, ...], fmt: str) -> str:
    value: Any = figures
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return "n/a" if value is None else fmt.format(value)


def realism_table(columns: dict[str, dict[str, Any]], markdown: bool = False) -> str:
    """One line per statistic, one column per source (real homes, pooled, simulator)."""
    names = list(columns)
    lines: list[str] = []
    if markdown:
        lines.append("| statistic | " + " | ".join(names) + " |")
        lines.append("| --- |" + " ---: |" * len(names))
    else:
        lines.append(f"{'':40}" + "".join(f"{n:>14}" for n in names))
    for label, path, fmt in _rows():
        cells = [_cell(columns[n], path, fmt) for n in names]
        if markdown:
            lines.append(f"| {label.strip()} | " + " | ".join(cells) + " |")
        else:
            lines.append(f"{label:40}" + "".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


def register(bench_app: typer.Typer) -> None:
    """Add ``realism`` to ``anbu bench``."""

    @bench_app.command("realism")
    def realism(
        real: Annotated[
            Path, typer.Option(exists=True, file_okay=False, help="Folder of real *.csv logs.")
        ],
        households: SimulatedHouseholds = 100,
        days: SimulatedDays = 60,
        seed: Seed = 1,
        compare: Annotated[
            Path | None,
            typer.Option(help="An earlier realism.json: its simulator column is shown too."),
        ] = None,
        markdown: Annotated[bool, typer.Option(help="Print a Markdown table.")] = False,
        output: Annotated[Path, typer.Option(help="Write the figures here.")] = DEFAULT_JSON,
    ) -> None:
        """Silences by time of day, outings, sleep, quiet sensors: real logs vs simulator."""
        from bench.realism import figures, pool, real_lives, simulated_lives
        from detectors.exceptions import BacktestInputError

        try:
            homes = real_lives(real)
        except (FileNotFoundError, BacktestInputError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        real_figures = {name: figures(lives) for name, lives in homes.items()}
        pooled = figures(pool(homes.values()))
        simulated = figures(simulated_lives(households, days, seed))
        columns = {**real_figures, "real pooled": pooled}
        if compare is not None:
            columns["sim before"] = json.loads(compare.read_text())["simulator"]
        columns["simulator"] = simulated
        typer.echo(realism_table(columns, markdown=markdown))
        output.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "real": {"homes": real_figures, "pooled": pooled, "directory": str(real)},
            "simulator": simulated,
            "config": {"households": households, "days": days, "seed": seed},
        }
        write_figures(output, result)
        typer.echo(f"written to {output}")
