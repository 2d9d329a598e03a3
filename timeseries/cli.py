"""``anbu series``: the writer of dashboard series, and tools for its schema."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import Annotated

import typer

from anbu.influx import InfluxClient
from anbu.timeutil import utcnow
from config.cli_context import settings_of
from timeseries.schema import backfill, ensure_schema

series_app = typer.Typer(
    help="Write activity, device health and event rates to InfluxDB for the dashboards.",
    invoke_without_command=True,
)


@series_app.callback()
def series(ctx: typer.Context) -> None:
    """Consume anbu.events and anbu.registry and write the dashboards' series."""
    if ctx.invoked_subcommand is not None:
        return
    from anbu.kafka_consumers import EXIT_GAVE_UP, ConsumerGaveUp
    from timeseries.writer import SeriesWriter

    writer = SeriesWriter(settings_of(ctx))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, writer.stop)
        await writer.run()

    try:
        asyncio.run(main())
    except ConsumerGaveUp:
        # logged where it gave up; the supervisor (``anbu up``, systemd, Docker) restarts us
        raise typer.Exit(EXIT_GAVE_UP) from None


@series_app.command("setup")
def setup(ctx: typer.Context) -> None:
    """Create the database, retention policies and continuous queries, then exit."""
    settings = settings_of(ctx)
    client = InfluxClient.from_settings(settings)
    ensure_schema(
        client,
        recent_retention=settings.series.recent_retention,
        rollup_retention=settings.series.rollup_retention,
        health_retention=settings.series.health_retention,
        review_retention=settings.series.review_retention,
    )
    typer.echo(f"InfluxDB database {client.database!r}: retention policies and rollups ready")


@series_app.command("backfill")
def backfill_command(
    ctx: typer.Context,
    days: Annotated[float, typer.Option(help="How many days back to recompute.")] = 7.0,
) -> None:
    """Recompute the hourly and daily rollups over the last DAYS (after a restore)."""
    client = InfluxClient.from_settings(settings_of(ctx))
    end = utcnow() + timedelta(hours=1)
    written = backfill(client, end - timedelta(days=days), end)
    typer.echo(f"rollups recomputed over {days:g} days: {written} points written")


def register(app: typer.Typer) -> None:
    """Add ``series`` to the ``anbu`` command."""
    app.add_typer(series_app, name="series")
