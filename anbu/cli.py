"""The ``anbu`` command: one entry point with a subcommand for every process and tool.

Subcommands live with the package they run (``ingest/cli.py`` for ``bridge``, ...). Each
such module has ``register(app)``; the table of them is :data:`anbu.commands.PLUGINS`. Only
the module of the command being run is imported, so ``anbu status`` does not pay for
importing Faust, FastAPI and matplotlib (measured: about 1 s against 2 s for importing every
command's module). ``tests/test_architecture.py`` reads the table as imports of this module.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from anbu.commands import available_commands
from config import ConfigError, load_settings
from config.cli_context import CliContext, setup_logging

app = typer.Typer(
    name="anbu",
    help="anbu (안부): watch over people living alone and alert their care workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML settings file.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting: --set kafka.bootstrap_servers=h:9092"),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./var).")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Load and validate settings before any subcommand runs."""
    overrides: dict[str, object] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            typer.echo(f"anbu: --set {item!r}: expected name=value", err=True)
            raise typer.Exit(2)
        overrides[key.strip()] = value
    if data_dir is not None:
        overrides["stack.data_dir"] = str(data_dir)
    try:
        settings = load_settings(config, overrides)
    except ConfigError as exc:
        typer.echo(f"anbu: {exc}", err=True)
        raise typer.Exit(2) from None
    setup_logging(log_level)
    ctx.obj = CliContext(settings=settings, config_file=config, overrides=overrides)


def _command_name(argv: list[str]) -> str | None:
    """Return the subcommand named on the command line, skipping the root options."""
    with_value = {"--config", "-c", "--set", "--data-dir", "--log-level"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in with_value:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def build_app(argv: list[str]) -> typer.Typer:
    """Register the subcommand about to run (or every one, for help)."""
    commands = available_commands()
    wanted = _command_name(argv)
    modules = {commands[wanted]} if wanted in commands else set(commands.values())
    for module in sorted(modules):
        importlib.import_module(module).register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app(sys.argv[1:])()


if __name__ == "__main__":
    main()
