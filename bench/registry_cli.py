"""``anbu bench registry``: how long a 10,000-household CSV import takes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bench.output import Output, write_figures


def registry_table(figures: dict[str, Any]) -> str:
    """The figures, one per line."""
    return "\n".join(
        [
            f"CSV import of {figures['households']:,} households ({figures['database']})",
            f"  with 5 bad rows: refused in {figures['refused_s']:.2f} s, lines named "
            f"{figures['bad_lines_named']} (expected {figures['bad_lines']}), "
            f"{figures['households_after_refusal']} stored",
            f"  clean file: imported in {figures['accepted_s']:.2f} s "
            f"({figures['rows_per_s']:,} rows/s), {figures['households_stored']:,} households "
            f"and {figures['devices_stored']:,} devices stored",
        ]
    )


def register(bench_app: typer.Typer) -> None:
    """Add ``registry`` to ``anbu bench``."""

    @bench_app.command("registry")
    def registry(
        households: Annotated[int, typer.Option(min=10, help="Rows in the CSV.")] = 10_000,
        database_url: Annotated[
            str | None,
            typer.Option(help="Empty database to import into; default: temporary SQLite."),
        ] = None,
        output: Output = None,
    ) -> None:
        """Time a CSV import refused for five bad rows, and the same file without them."""
        from bench.registry import run

        figures = run(households=households, database_url=database_url)
        typer.echo(registry_table(figures))
        write_figures(output, figures)
