"""What every subcommand needs: the loaded settings and logging set up the same way."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from config import Settings


@dataclass(slots=True)
class CliContext:
    """Carried in ``typer.Context.obj`` from the top-level options to each subcommand.

    Attributes:
        settings: the validated settings.
        config_file: the TOML file given with ``--config``, if any.
        overrides: the ``--set``/flag values by dotted name, for passing to children.
    """

    settings: Settings
    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def child_env(self) -> dict[str, str]:
        """Environment that gives child processes the same settings as this one."""
        env: dict[str, str] = {}
        if self.config_file is not None:
            env["ANBU_CONFIG"] = str(self.config_file.resolve())
        for dotted, value in self.overrides.items():
            env["ANBU_" + dotted.upper().replace(".", "__")] = str(value)
        env["ANBU_STACK__DATA_DIR"] = str(self.settings.data_dir)
        return env


def settings_of(ctx: typer.Context) -> Settings:
    """Return the settings loaded by the top-level callback."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise RuntimeError("settings were not loaded (the anbu callback did not run)")
    return obj.settings


def cli_context(ctx: typer.Context) -> CliContext:
    """Return the whole :class:`CliContext`."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise RuntimeError("settings were not loaded (the anbu callback did not run)")
    return obj


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with times in UTC, one line per record."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.Formatter.converter = __import__("time").gmtime
    for noisy in ("kafka", "aiokafka", "faust", "mode", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
