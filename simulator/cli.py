"""``anbu simulate``: simulated households, to files for ``anbu backtest`` or live over MQTT."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from anbu.errors import AnbuError
from anbu.timeutil import utcnow
from config import Settings
from config.cli_context import settings_of
from simulator.plan import DAY, NO_INCIDENTS, IncidentRates, Withdrawal
from simulator.resident import SimOptions
from simulator.world import DEFAULT_START, Simulation, SimulationConfig

log = logging.getLogger(__name__)


def _parse_start(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not ISO 8601 (2026-01-05T00:00+09:00)") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("--start needs a UTC offset, e.g. 2026-01-05T00:00+09:00")
    return moment


def simulate(
    ctx: typer.Context,
    households: Annotated[int, typer.Option("--households", "-n", min=0)] = 20,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days (files/MQTT).")] = 14,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same events.")] = 1,
    start: Annotated[
        str | None, typer.Option("--start", help="First moment, ISO 8601 with offset.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for events.csv, ground truth, registry.")
    ] = Path("simulation"),
    mqtt: Annotated[
        bool, typer.Option("--mqtt", help="Publish over MQTT in native formats instead of files.")
    ] = False,
    speed: Annotated[
        float, typer.Option("--speed", min=0, help="Simulated s per real s (MQTT); 0: no pacing.")
    ] = 60.0,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Seed demo households in the registry, publish for ever."),
    ] = False,
    heartbeat_s: Annotated[float, typer.Option("--heartbeat-s", min=1)] = 60.0,
    plug_report_s: Annotated[float, typer.Option("--plug-report-s", min=1)] = 300.0,
    clean: Annotated[
        bool, typer.Option("--clean", help="No incidents and no noise: routines only.")
    ] = False,
    withdraw: Annotated[
        str | None,
        typer.Option(
            "--withdraw",
            help="Household numbers (e.g. 7,12) whose residents gradually withdraw from day 28 "
            "over 35 days (ground truth 'withdrawal'; for `anbu review`).",
        ),
    ] = None,
) -> None:
    """Simulate households: residents' routines, devices, noise and incidents.

    Without --mqtt it writes events.csv (timestamp,household_id,device_id,kind,value),
    ground_truth.json/.csv (the incidents) and registry.json for `anbu backtest`.
    """
    settings = settings_of(ctx)
    if demo:
        _run_demo(settings, households, speed, seed)
        return
    live = mqtt
    config = SimulationConfig(
        households=households,
        days=days,
        seed=seed,
        start=_parse_start(start, utcnow() if live else DEFAULT_START),
        rates=NO_INCIDENTS if clean else IncidentRates(),
        options=SimOptions(heartbeat_s=heartbeat_s, plug_report_s=plug_report_s),
        withdrawal=_withdrawal(withdraw),
    )
    simulation = Simulation(config)
    if live:
        _run_mqtt(settings, simulation, speed)
    else:
        _write_files(simulation, out)


def _withdrawal(text: str | None) -> Withdrawal | None:
    if not text:
        return None
    try:
        numbers = frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        typer.echo(f"anbu simulate: --withdraw {text!r}: expected numbers like 7,12", err=True)
        raise typer.Exit(2) from None
    return Withdrawal(numbers)


def _write_files(simulation: Simulation, out: Path) -> None:
    from tqdm import tqdm

    from simulator.output import write_events_csv, write_ground_truth, write_registry

    out.mkdir(parents=True, exist_ok=True)
    days = simulation.config.days or 0
    bar = tqdm(total=days, unit="day", desc="simulate", leave=False)
    shown = 0

    def counted() -> Any:
        nonlocal shown
        for event in simulation.events():
            day = int((event.t - simulation.midnight0) // DAY)
            if day > shown:
                bar.update(day - shown)
                shown = day
            yield event

    count = write_events_csv(counted(), out / "events.csv")
    bar.close()
    truth = simulation.ground_truth()
    write_ground_truth(truth, out)
    write_registry(simulation, out / "registry.json")
    incidents = sum(
        1 for i in truth if i.kind.value in ("collapse", "illness", "trip", "withdrawal")
    )
    typer.echo(
        f"{count} events from {len(simulation.households)} households over {days} days "
        f"-> {out / 'events.csv'}; {incidents} incidents and {len(truth) - incidents} "
        f"device/gateway problems -> {out / 'ground_truth.json'}; registry -> "
        f"{out / 'registry.json'}"
    )


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _run_mqtt(settings: Settings, simulation: Simulation, speed: float) -> None:
    from simulator.demo import device_index
    from simulator.publish import connect, publish

    stop = _stop_on_signals()
    try:
        client = connect(settings, f"anbu-simulate-{simulation.config.seed}")
    except AnbuError as exc:
        typer.echo(f"anbu simulate: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        total = (simulation.end_epoch or 0) - simulation.start_epoch
        stats = publish(
            client,
            simulation.events(),
            device_index(simulation),
            sim_start=simulation.start_epoch,
            speed=speed,
            stop=stop,
            progress_total_s=total,
        )
    finally:
        client.loop_stop()
        client.disconnect()
    typer.echo(
        f"published {stats.messages} MQTT messages for {stats.events} events in "
        f"{stats.seconds:.1f} s"
    )


def _run_demo(settings: Settings, households: int, speed: float, seed: int) -> None:
    from simulator.demo import run_forever

    stop = _stop_on_signals()
    try:
        run_forever(settings, households, speed, seed, stop)
    except AnbuError as exc:
        typer.echo(f"anbu simulate --demo: {exc}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``anbu`` command."""
    app.command("simulate")(simulate)
