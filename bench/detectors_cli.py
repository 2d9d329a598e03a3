"""``anbu bench detectors``: the detector core's and worker's numbers.

Backtest events/s, memory per household, deadline lag, and the worker's events/s beside a
raw aiokafka consumer's on the same topic in the same run.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bench.output import JsonOut, write_figures


def register(bench_app: typer.Typer) -> None:
    """Add ``detectors`` to ``anbu bench``."""
    bench_app.command("detectors")(detectors)


def detectors(
    households: Annotated[int, typer.Option(help="Households in the backtest stream.")] = 2000,
    days: Annotated[int, typer.Option(help="Days of events per household.")] = 8,
    memory: Annotated[
        str, typer.Option(help="Household counts for the memory measurement, comma-separated.")
    ] = "100000,1000000",
    worker_events: Annotated[
        int, typer.Option(help="Events for worker vs raw consumer (0: skip).")
    ] = 800_000,
    batch: Annotated[int, typer.Option(help="Events per Kafka record (EventBatch).")] = 50,
    tick: Annotated[float, typer.Option(help="Worker tick interval for the lag, seconds.")] = 0.25,
    json_out: JsonOut = None,
) -> None:
    """Measure the detector core and worker; print the numbers."""
    from bench import detectors as bd

    results: dict[str, Any] = {}
    typer.echo("backtest (core over an in-memory stream) ...")
    results["backtest"] = bd.backtest_rate(households, days)
    typer.echo(f"  {results['backtest']}")
    counts = [int(c) for c in memory.split(",") if c.strip()]
    if counts:
        typer.echo("memory per household ...")
        results["memory"] = bd.memory_per_household(counts)
        for row in results["memory"]:
            typer.echo(f"  {row}")
        results["packing"] = bd.pack_cost()
        typer.echo(f"  packing one household: {results['packing']}")
    typer.echo("deadline -> alert lag (live runtime, wall clock) ...")
    results["lag"] = bd.deadline_lag(tick_s=tick)
    typer.echo(f"  {results['lag']}")
    if worker_events:
        typer.echo("worker vs raw aiokafka consumer (own Kafka broker) ...")
        results["worker"] = bd.worker_vs_raw(worker_events, batch)
        typer.echo(f"  {results['worker']}")
    write_figures(json_out, results)
