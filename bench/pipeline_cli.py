"""``anbu bench pipeline``: the whole pipeline's sustained events/s beside the raw limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bench.options import SimulatedHouseholds
from bench.output import Output, write_figures


def pipeline_table(f: dict[str, Any]) -> str:
    """The rates of one run, each stage beside the raw limit it is compared with."""

    def num(value: Any) -> str:
        return "n/a" if value is None else f"{value:,.0f}"

    return "\n".join(
        [
            f"{'':44}{'events/s':>12}",
            f"{'plain paho subscriber (raw MQTT limit)':44}"
            f"{num(f.get('raw_mqtt_events_per_s')):>12}"
            f"  ({num(f['raw_mqtt']['msgs_per_s'])} msg/s x {f.get('events_per_message')} ev/msg)",
            f"{'raw aiokafka consumer (raw Kafka limit)':44}"
            f"{num(f['raw_kafka']['events_per_s']):>12}"
            f"  ({num(f['raw_kafka']['records_per_s'])} records/s)",
            f"{'bridge: MQTT -> anbu.events (acked)':44}{num(f.get('bridge_events_per_s')):>12}",
            f"{'whole pipeline: through the detector worker':44}"
            f"{num(f.get('pipeline_events_per_s')):>12}  (goal >= 20,000)",
            f"pipeline / raw MQTT: {f.get('pipeline_ratio')}; backlog left: "
            f"{f.get('backlog_records')} records; window {f.get('window_s')} s",
        ]
    )


def register(bench_app: typer.Typer) -> None:
    """Add ``pipeline`` to ``anbu bench``."""

    @bench_app.command("pipeline")
    def pipeline(
        households: SimulatedHouseholds = 500,
        messages: Annotated[int, typer.Option(min=1000, help="MQTT messages offered.")] = 200_000,
        duration: Annotated[float, typer.Option(min=15, help="Measuring run, seconds.")] = 60.0,
        output: Output = None,
    ) -> None:
        """Whole pipeline events/s on a private stack, beside plain MQTT and Kafka consumers."""
        from bench.pipeline import run

        figures = run(
            households=households, messages=messages, duration_s=duration, progress=typer.echo
        )
        typer.echo(pipeline_table(figures))
        write_figures(output, figures)
