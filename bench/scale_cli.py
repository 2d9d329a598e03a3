"""``anbu bench scale``: one detector worker against several, and the hand-over time."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bench.output import Output, write_figures


def scale_table(figures: dict[str, Any]) -> str:
    """The figures, one per line."""
    lines = ["detector workers in one group (one private Apache Kafka broker, this machine)"]
    for row in figures["throughput"]:
        lines.append(f"  {row['workers']} worker(s): {row['events']:,} events in "
                     f"{row['seconds']} s = {row['events_per_s']} events/s "
                     f"(x{row['vs_one']} of one)")
    for h in figures.get("handovers", [figures["handover"]]):
        lines.append(
            f"  hand-over ({h.get('standby_replicas', '?')} standby replica(s), "
            f"{h.get('households', 0):,} households with state): a second worker joined in "
            f"{h['second_join_s']} s; after a SIGKILL the survivor restored "
            f"{h['partitions_moved']} partition(s) ({h.get('households_moved', '?')} "
            f"households) in {h['handover_after_sigkill_s']} s "
            f"(session timeout {h['session_timeout_s']} s)")
    return "\n".join(lines)


def register(bench_app: typer.Typer) -> None:
    """Add ``scale`` to ``anbu bench``."""

    @bench_app.command("scale")
    def scale(
        events: Annotated[int, typer.Option(min=1000, help="Events in the backlog.")] = 1_000_000,
        batch: Annotated[int, typer.Option(min=1, help="Events per Kafka record.")] = 50,
        workers: Annotated[str, typer.Option(
            help="Worker counts, comma-separated (empty: the hand-over only).")] = "1,2",
        households: Annotated[int, typer.Option(
            min=0, help="Households given state before the hand-over's SIGKILL.")] = 0,
        standbys: Annotated[str, typer.Option(
            help="detectors.standby_replicas values to time the hand-over with, "
            "comma-separated.")] = "1",
        output: Output = None,
    ) -> None:
        """Time one worker and several over the same backlog; time a hand-over."""
        from bench.scale import run

        copies = tuple(int(n) for n in workers.split(",") if n.strip())
        figures = run(events=events, batch=batch, copies=copies, households=households,
                      standbys=tuple(int(n) for n in standbys.split(",") if n.strip()))
        typer.echo(scale_table(figures))
        write_figures(output, figures)
