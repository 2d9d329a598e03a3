"""``anbu bench sos``: SOS publish -> alert stored and webhook received, p50/p99, under load."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bench.output import Output, write_figures


def sos_table(f: dict[str, Any]) -> str:
    """Latency percentiles and where the time goes."""

    def ms(value: Any) -> str:
        return "n/a" if value is None else f"{value:,.1f} ms"

    verdict = "n/a" if f["p99_ms"] is None else ("meets" if f["p99_ms"] < 250 else "MISSES")
    lines = [
        f"{f['sos']} SOS under {f['background_msgs_per_s']:.0f} telemetry msg/s: "
        f"{f['webhooks_received']} webhooks, {f['alerts_stored']} alerts stored",
        f"{'publish -> stored and webhook received, p50':46}{ms(f['p50_ms']):>14}",
        f"{'publish -> stored and webhook received, p99':46}{ms(f['p99_ms']):>14}"
        f"  goal < 250 ms: {verdict}",
        f"{'slowest':46}{ms(f['max_ms']):>14}",
    ]
    for stage, value in f.get("stage_p50_ms", {}).items():
        lines.append(f"  median {stage:48}{ms(value):>14}")
    return "\n".join(lines)


def flood_table(f: dict[str, Any]) -> str:
    """SOS latency during a junk flood, and what became of the junk."""

    def ms(value: Any) -> str:
        return "n/a" if value is None else f"{value:,.1f} ms"

    verdict = "n/a" if f["p99_ms"] is None else ("meets" if f["p99_ms"] < 1000 else "MISSES")
    return "\n".join(
        [
            f"{f['sos']} SOS during a flood of {f['junk']:,} junk messages from one client "
            f"({f['flood_s']:.1f} s, {f['flood_msgs_per_s']:,.0f} msg/s): "
            f"{f['webhooks_received']} webhooks, {f['alerts_stored']} alerts stored",
            f"{'publish -> stored and webhook received, p50':46}{ms(f['p50_ms']):>14}",
            f"{'publish -> stored and webhook received, p99':46}{ms(f['p99_ms']):>14}"
            f"  goal < 1 s: {verdict}",
            f"{'slowest':46}{ms(f['max_ms']):>14}",
            *(
                f"  median {stage:48}{ms(value):>14}  p99 {ms(f['stage_p99_ms'][stage])}"
                for stage, value in f.get("stage_p50_ms", {}).items()
            ),
            f"junk dead-lettered: {f['junk_dead_lettered']:,} of {f['junk']:,} (all acknowledged "
            f"after {f['acked_after_s']} s); SOS dead-lettered: {f['sos_dead_lettered']}; "
            f"bridge log lines: {f['bridge_log_lines']}",
        ]
    )


def register(bench_app: typer.Typer) -> None:
    """Add ``sos`` to ``anbu bench``."""

    @bench_app.command("sos")
    def sos(
        count: Annotated[int, typer.Option("--count", min=1, help="SOS events.")] = 1000,
        load: Annotated[
            float, typer.Option(min=0.1, help="Background telemetry, MQTT msg/s.")
        ] = 200.0,
        interval: Annotated[float, typer.Option(min=0, help="Seconds between SOS.")] = 0.03,
        flood: Annotated[
            int,
            typer.Option(
                min=0,
                help="Instead: junk messages one client floods the broker with while SOS "
                "buttons are pressed (at most --count, every --interval s); 50000 in the "
                "issue's case.",
            ),
        ] = 0,
        output: Output = None,
    ) -> None:
        """SOS latency p50/p99 end to end on a private stack, with a real webhook receiver."""
        from bench.sos import run
        from bench.sos_flood import run_flood

        if flood:
            figures = run_flood(
                junk=flood, sos=count, interval_s=interval, progress=typer.echo
            )
            typer.echo(flood_table(figures))
        else:
            figures = run(
                sos=count, interval_s=interval, load_msgs_per_s=load, progress=typer.echo
            )
            typer.echo(sos_table(figures))
        write_figures(output, figures)
