"""``anbu bench kafka``: what the embedded broker costs (start-up, memory, throughput, joins)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bench.output import Output, write_figures


def kafka_table(figures: dict[str, Any]) -> str:
    """The figures, one per line."""
    out = figures["throughput"]
    return "\n".join(
        [
            f"broker: {figures['broker']}",
            f"  storage format (once per data folder): {figures['prepare_s']:.1f} s",
            f"  start -> ready, new data folder: {figures['start_new_s']:.1f} s; "
            f"after a SIGKILL: {figures['start_after_sigkill_s']:.1f} s "
            f"({figures['records_after_restart']:,} records still there)",
            f"  resident memory: {figures['rss_ready_mb']:.0f} MiB ready, "
            f"{figures['rss_loaded_mb']:.0f} MiB after the records",
            f"  {out['records']:,} records produced in {out['produce_s']:.1f} s, "
            f"read in {out['read_s']:.1f} s",
            f"  anbu worker joins its group: first {figures['worker_first_join_s']:.1f} s, "
            "after the previous one was SIGKILLed "
            f"{figures['worker_rejoin_after_sigkill_s']:.1f} s",
        ]
    )


def register(bench_app: typer.Typer) -> None:
    """Add ``kafka`` to ``anbu bench``."""

    @bench_app.command("kafka")
    def kafka(
        broker: Annotated[str, typer.Option(help="apache or tansu.")] = "apache",
        records: Annotated[int, typer.Option(min=1, help="300-byte records to write.")] = 100_000,
        output: Output = None,
    ) -> None:
        """Start a broker of its own and measure it."""
        from bench.kafka import run

        if broker not in ("apache", "tansu"):
            raise typer.BadParameter("apache or tansu", param_hint="--broker")
        figures = run(broker=broker, records=records)
        typer.echo(kafka_table(figures))
        write_figures(output, figures)
