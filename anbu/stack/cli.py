"""``anbu up`` and ``anbu status``."""

from __future__ import annotations

import signal
import time
import xmlrpc.client
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from anbu.commands import available_commands
from anbu.errors import AnbuError
from anbu.health import verdict
from anbu.influx import InfluxClient
from anbu.kafka_topics import ensure_topics
from anbu.stack.apache_kafka import jars_cached
from anbu.stack.compose import app_programs, infra_programs
from anbu.stack.exceptions import StackError
from anbu.stack.services import wait_ready
from anbu.stack.supervise import (
    ProcessState,
    process_states,
    start_supervisord,
    wait_for_rpc,
    write_config,
)
from anbu.timeutil import SEOUL, utcnow
from config import Settings
from config.cli_context import cli_context, settings_of


def _say(text: str) -> None:
    typer.echo(f"[anbu up {datetime.now(SEOUL):%H:%M:%S}] {text}")


def up(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Add simulated demo households.")] = False,
) -> None:
    """Start the whole embedded stack and keep it running until Ctrl-C."""
    context = cli_context(ctx)
    settings = context.settings
    if settings.stack.kafka == "apache" and not jars_cached(settings.stack.kafka_lib_dir):
        _say("fetching Apache Kafka with Maven and preparing it (once; a minute or two)")
    try:
        infra = infra_programs(settings)
        apps = app_programs(settings, set(available_commands()), demo=demo)
    except AnbuError as exc:
        typer.echo(f"anbu: {exc}", err=True)
        raise typer.Exit(2) from None
    data = settings.data_dir
    config = write_config(data, infra + apps, context.child_env())
    supervisord = start_supervisord(config, data / "log" / "supervisord.out")
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        proxy = wait_for_rpc(data)
        timeout = settings.stack.start_timeout.total_seconds()
        for program in infra:
            wait_ready(program.spec, timeout)
            _say(f"{program.spec.name} ready on port {program.spec.port}")
        for line in prepare(settings, timeout):
            _say(line)
        for program in apps:
            proxy.supervisor.startProcess(program.spec.name, False)
            _say(f"started {program.spec.name}")
        _say("open:")
        _say(f"  care-center inbox     http://{settings.web.host}:{settings.web.port}/inbox")
        _say(f"  operator dashboards   http://{settings.web.host}:{settings.web.port}/")
        _say(f"  installer API (docs)  http://{settings.web.host}:{settings.web.port}/docs")
        if demo:
            _say_demo_accounts(settings.data_dir / "demo" / "accounts.txt", 120.0,
                               lambda: stopping or supervisord.poll() is not None)
        _say("`anbu status` shows what runs; Ctrl-C stops everything.")
        _watch(data, lambda: stopping or supervisord.poll() is not None)
    except (AnbuError, OSError, xmlrpc.client.Error) as exc:
        typer.echo(f"anbu: {exc}", err=True)
        stopping = True
    finally:
        _shutdown(data, supervisord)
    raise typer.Exit(0 if stopping else 1)


def _say_demo_accounts(path: Path, timeout_s: float, stopped: Callable[[], bool]) -> None:
    """Print the demo's sign-in accounts once the demo has seeded the registry."""
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline and not stopped():
        time.sleep(0.5)
    if not path.exists():
        _say(f"  demo accounts         {path} (written once the demo has seeded)")
        return
    _say(f"  demo accounts (user name, password, role, center; also in {path}):")
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            _say("    " + "  ".join(line.split("\t")))


def prepare(settings: Settings, timeout_s: float) -> list[str]:
    """Create what the services expect to exist: Kafka topics and the InfluxDB database."""
    said = []
    created = ensure_topics(settings, timeout_s)
    if created:
        said.append(f"created Kafka topics: {', '.join(created)}")
    influx = InfluxClient.from_settings(settings)
    try:
        influx.create_database()
    finally:
        influx.close()
    said.append(f"InfluxDB database {settings.influx.database!r} ready")
    return said


def init(ctx: typer.Context) -> None:
    """Create Kafka topics and the InfluxDB database (for a stack anbu did not start)."""
    settings = settings_of(ctx)
    try:
        for line in prepare(settings, settings.stack.start_timeout.total_seconds()):
            typer.echo(line)
    except AnbuError as exc:
        typer.echo(f"anbu: {exc}", err=True)
        raise typer.Exit(1) from None


def _watch(data: Any, done: Any) -> None:
    """Report state changes (a crash, a restart) until ``done()``."""
    last: dict[str, str] = {}
    while not done():
        try:
            states = process_states(data)
        except StackError:
            states = []
        for state in states:
            previous = last.get(state.name)
            if previous is not None and previous != state.state:
                detail = f" (exit status {state.exit_status})" if state.state == "EXITED" else ""
                _say(f"{state.name}: {previous} -> {state.state}{detail}")
            last[state.name] = state.state
        time.sleep(1.0)


def _shutdown(data: Any, supervisord: Any) -> None:
    _say("stopping…")
    if supervisord.poll() is None:
        try:
            from anbu.stack.supervise import rpc

            rpc(data).supervisor.shutdown()
        except (OSError, xmlrpc.client.Error):
            supervisord.terminate()
        try:
            supervisord.wait(timeout=60)
        except Exception:  # noqa: BLE001 - last resort: never leave it running
            supervisord.kill()
            supervisord.wait()
    _say("stopped; no anbu process is left running.")


def status(ctx: typer.Context) -> None:
    """Say what runs in the embedded stack, on which port, since when, and what is stuck.

    A running process whose heartbeat (``<data dir>/health/``) reports a problem, or has
    gone stale, is shown DEGRADED with the reason. Exit 1 if anything is not RUNNING.
    """
    settings = settings_of(ctx)
    try:
        states = process_states(settings.data_dir)
    except StackError as exc:
        typer.echo(f"anbu: {exc}", err=True)
        raise typer.Exit(3) from None
    from anbu.stack.compose import service_ports

    # Only derive the ports: building the infrastructure specs would rewrite their configs.
    ports: dict[str, int | None] = {**service_ports(settings)}
    for program in app_programs(settings, set(available_commands()), demo=True):
        ports[program.spec.name] = program.spec.port
    typer.echo(f"{'component':<10} {'state':<9} {'pid':>7} {'port':>6}  since (Asia/Seoul)")
    healthy = True
    for state in states:
        shown, reason = state.state, ""
        if state.state == "RUNNING":
            # Running is not enough: a process stuck on a broken Kafka client runs too.
            judged = verdict(settings.data_dir, state.name, state.pid)
            if judged.degraded:
                shown, reason = "DEGRADED", judged.reason
        healthy = healthy and shown == "RUNNING"
        typer.echo(_row(state, shown, ports.get(state.name)))
        if reason:
            typer.echo(f"{'':<10} └ {reason}")
    if not healthy:
        raise typer.Exit(1)


def _row(state: ProcessState, shown: str, port: int | None) -> str:
    since = "-"
    if state.since is not None and state.state == "RUNNING":
        uptime = utcnow() - state.since
        since = f"{state.since.astimezone(SEOUL):%Y-%m-%d %H:%M:%S} (up {_short(uptime)})"
    pid = str(state.pid) if state.pid else "-"
    return f"{state.name:<10} {shown:<9} {pid:>7} {port or '-':>6}  {since}"


def _short(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def register(app: typer.Typer) -> None:
    """Add ``up``, ``status`` and ``init`` to the ``anbu`` command."""
    app.command("up")(up)
    app.command("status")(status)
    app.command("init")(init)
