"""``anbu worker`` and ``anbu backtest``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from config.cli_context import settings_of


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``backtest`` to the ``anbu`` command."""
    app.command("worker")(worker)
    app.command("backtest")(backtest)


def worker(ctx: typer.Context) -> None:
    """Run the detector worker (Faust): anbu.events, anbu.sos, anbu.registry -> anbu.alerts."""
    from detectors.worker import run_worker

    run_worker(settings_of(ctx))


def backtest(
    ctx: typer.Context,
    events: Annotated[
        Path,
        typer.Option(
            "--events",
            help="CSV: timestamp,household_id,device_id,kind,value (time-ordered or not).",
            exists=True,
            dir_okay=False,
        ),
    ],
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="YAML or JSON of households and their settings.",
                     exists=True, dir_okay=False),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write alert events here (JSON lines).")
    ] = None,
    fixed_only: Annotated[
        bool, typer.Option("--fixed-only", help="Fixed N-hour rule only (routine detector off).")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run the detector core over an event file in event time and write the alerts."""
    from tqdm import tqdm

    from detectors.backtest import alert_line, load_registry, make_engine, read_csv, run_rows
    from detectors.exceptions import BacktestInputError
    from detectors.params import DetectorParams

    settings = settings_of(ctx)
    params = DetectorParams.from_settings(settings.detectors)
    try:
        reg = load_registry(registry) if registry is not None else None
        size = events.stat().st_size
        with tqdm(total=size, unit="B", unit_scale=True, desc="reading", disable=not progress,
                  file=sys.stderr) as bar:
            seen = [0]

            def read_progress(pos: int) -> None:
                bar.update(pos - seen[0])
                seen[0] = pos

            rows = read_csv(events, read_progress)
            bar.update(size - seen[0])
    except BacktestInputError as exc:
        typer.echo(f"anbu backtest: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = make_engine(
        reg.households if reg else None,
        reg.devices if reg else None,
        reg.gateways if reg else None,
        routine=not fixed_only,
        params=params,
    )
    sink = out.open("w", encoding="utf-8") if out is not None else sys.stdout
    counts: dict[str, int] = {}
    started = time.perf_counter()
    try:
        with tqdm(total=len(rows), unit="ev", unit_scale=True, desc="events",
                  disable=not progress, file=sys.stderr) as bar:
            for alert in run_rows(engine, rows, bar.update):
                sink.write(alert_line(alert) + "\n")
                key = f"{alert.kind.value}/{alert.action.value}"
                counts[key] = counts.get(key, 0) + 1
    finally:
        if out is not None:
            sink.close()
    elapsed = time.perf_counter() - started
    rate = len(rows) / elapsed if elapsed > 0 else float("inf")
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no alerts"
    typer.echo(
        f"{len(rows)} events, {len(engine.households)} households in {elapsed:.2f} s "
        f"({rate:,.0f} events/s): {summary}",
        err=True,
    )
