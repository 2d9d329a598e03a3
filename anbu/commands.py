"""The table of ``anbu`` subcommands and the module that registers each.

A table of names rather than imports, so that ``anbu`` imports only the module of the
command being run (start-up time; see ``anbu/cli.py``). It is its own module so that the
embedded stack (``anbu/stack/cli.py``), which starts a program per command, can read it
without importing the CLI that imports the stack.
"""

from __future__ import annotations

import importlib.util

# command name -> module with register(app). A module that does not exist yet is skipped.
PLUGINS: dict[str, str] = {
    "up": "anbu.stack.cli",
    "status": "anbu.stack.cli",
    "init": "anbu.stack.cli",
    "bridge": "ingest.cli",
    "devices": "devices.cli",
    "users": "devices.accounts_cli",
    "worker": "detectors.cli",
    "backtest": "detectors.cli",
    "alerts": "alerts.cli",
    "series": "timeseries.cli",
    "web": "web.cli",
    "simulate": "simulator.cli",
    "bench": "bench.cli",
    "review": "detectors.review_cli",
}


def available_commands() -> dict[str, str]:
    """Return the subcommands whose module exists in this installation."""
    return {
        name: module
        for name, module in PLUGINS.items()
        if importlib.util.find_spec(module.split(".")[0]) is not None
        and importlib.util.find_spec(module) is not None
    }
