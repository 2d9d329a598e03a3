"""``anbu bench ingest``: the bridge's rate beside a plain paho subscriber's, and their ratio."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from anbu.stack.apache_kafka import READY_TIMEOUT_S, private_broker
from anbu.stack.services import free_port, mosquitto_spec
from bench.output import Output, write_figures
from config import load_settings
from config.cli_context import settings_of
from testkit.services import running

_USER = ("anbu-bench", "bench-password")


@contextmanager
def private_services() -> Iterator[Any]:
    """A Mosquitto and a Kafka of the benchmark's own on free ports; yields their settings."""
    with tempfile.TemporaryDirectory(prefix="anbu-bench-ingest-") as tmp:
        base = Path(tmp)
        mqtt_port = free_port()
        mosquitto = mosquitto_spec(base / "mosquitto", mqtt_port, service_user=_USER)
        kafka = private_broker(base / "kafka")
        kafka_port = kafka.port
        with (
            running(mosquitto, base / "mosquitto.log", READY_TIMEOUT_S),
            running(kafka, base / "kafka.log", READY_TIMEOUT_S),
        ):
            yield load_settings(
                None,
                {
                    "stack.data_dir": str(base / "var"),
                    "mqtt.port": mqtt_port,
                    "mqtt.username": _USER[0],
                    "mqtt.password": _USER[1],
                    "kafka.bootstrap_servers": f"127.0.0.1:{kafka_port}",
                },
            )


def register(bench_app: typer.Typer) -> None:
    """Add ``ingest`` to ``anbu bench``."""

    @bench_app.command("ingest")
    def ingest(
        ctx: typer.Context,
        messages: Annotated[int, typer.Option(help="MQTT messages each consumer drains.")] = 20_000,
        devices: Annotated[int, typer.Option(help="Registered motion sensors.")] = 200,
        rounds: Annotated[int, typer.Option(help="Turns each consumer gets; best counts.")] = 2,
        processes: Annotated[
            int, typer.Option(help="Also time this many bridge processes (scale-out); 1: skip.")
        ] = 2,
        use_running: Annotated[
            bool,
            typer.Option(
                "--use-running",
                help="Use the configured Mosquitto and Kafka instead of private ones.",
            ),
        ] = False,
        output: Output = None,
    ) -> None:
        """Bridge events/s beside a plain paho subscriber on the same broker, and the ratio."""
        from bench.ingest import run

        if use_running:
            figures = run(
                settings_of(ctx),
                messages=messages,
                devices=devices,
                rounds=rounds,
                processes=processes,
            )
        else:
            with private_services() as settings:
                figures = run(
                    settings, messages=messages, devices=devices, rounds=rounds, processes=processes
                )
        typer.echo(f"{'':28}{'msgs/s':>12}{'events/s':>12}")
        typer.echo(f"{'plain paho subscriber':28}{figures['raw_msgs_per_s']:>12,.0f}{'-':>12}")
        typer.echo(
            f"{'anbu bridge (Kafka acked)':28}{figures['bridge_msgs_per_s']:>12,.0f}"
            f"{figures['bridge_events_per_s']:>12,.0f}"
        )
        if figures["multi_msgs_per_s"] is not None:
            label = f"anbu bridge x{figures['processes']} processes"
            multi = figures["multi_msgs_per_s"]
            typer.echo(
                f"{label:28}{multi:>12,.0f}{multi * figures['events_per_message']:>12,.0f}"
                f"   ({figures['multi_ratio']:.0%} of plain)"
            )
        verdict = "meets" if figures["ratio"] >= figures["goal_ratio"] else "BELOW"
        typer.echo(
            f"ratio bridge/plain: {figures['ratio']:.0%} ({verdict} the goal of "
            f"{figures['goal_ratio']:.0%}); {figures['messages']:,} messages, "
            f"{figures['events_per_message']:.1f} events each, best of {figures['rounds']} "
            f"rounds (plain {figures['raw_seconds']} s, bridge {figures['bridge_seconds']} s)"
        )
        typer.echo(
            f"CPU per message in this process: plain {figures['raw_cpu_us_per_msg']:.0f} us, "
            f"bridge {figures['bridge_cpu_us_per_msg']:.0f} us (ratio {figures['cpu_ratio']:.0%})"
        )
        write_figures(output, figures)
