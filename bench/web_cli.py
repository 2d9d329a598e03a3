"""``anbu bench web``: household page load time over 10,000 households x 30 days."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.output import Output, write_figures
from config.cli_context import settings_of


def register(bench_app: typer.Typer) -> None:
    """Add ``web`` to ``anbu bench``."""

    @bench_app.command("web")
    def web(
        ctx: typer.Context,
        households: Annotated[int, typer.Option(help="Households in the history.")] = 10_000,
        days: Annotated[int, typer.Option(help="Days of 5-minute activity.")] = 30,
        samples: Annotated[int, typer.Option(help="Page loads timed per range.")] = 40,
        influx_url: Annotated[
            str | None,
            typer.Option(
                help="Use this InfluxDB (database anbu_bench_web) instead of a "
                "private one under the data directory."
            ),
        ] = None,
        output: Output = None,
    ) -> None:
        """Time the household page's queries (activity, alerts, device health) per load."""
        from bench.web import run

        directory = settings_of(ctx).data_dir / "bench-web"
        figures = run(
            directory,
            households=households,
            days=days,
            samples=samples,
            url=influx_url,
            progress=typer.echo,
        )
        typer.echo(
            f"{figures['households']:,} households x {figures['days']} days: "
            f"{figures['activity_points']:,} activity_5m points"
            + (f" (loaded in {figures['load_s']:.0f} s)" if figures["load_s"] else " (reused)")
        )
        typer.echo(
            f"{'household page, range':24}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}"
            f"{'max ms':>10}{'points':>9}"
        )
        for name, row in figures["ranges"].items():
            typer.echo(
                f"{name:24}{row['mean_ms']:>10.1f}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}"
                f"{row['max_ms']:>10.1f}{row['nonzero_points_per_page']:>9}"
            )
        for name, label in (
            ("cold_30d", "30d, first touch (cold)"),
            ("html_page_30d", "household HTML page 30d"),
            ("overview_24h", "overview API 24h"),
            ("devices_page", "devices HTML page"),
        ):
            row = figures[name]
            typer.echo(
                f"{label:24}{row['mean_ms']:>10.1f}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}"
                f"{row['max_ms']:>10.1f}"
            )
        verdict = "meets" if figures["meets_goal"] else "MISSES"
        typer.echo(
            f"30-day page p95 {figures['ranges']['30d']['p95_ms']:.1f} ms: {verdict} "
            f"the goal of < {figures['goal_ms']:.0f} ms"
        )
        write_figures(output, figures)
