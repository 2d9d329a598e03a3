"""Options that several ``anbu bench`` subcommands take, declared once with their help.

Each subcommand keeps its own default (``households: SimulatedHouseholds = 500``); the name,
checks and help text of the option are the same everywhere they appear.
"""

from __future__ import annotations

from typing import Annotated

import typer

SimulatedHouseholds = Annotated[int, typer.Option(min=1, help="Simulated households.")]
"""``--households N``: how many households the simulator makes (at least one)."""

SimulatedDays = Annotated[int, typer.Option(min=7, help="Simulated days.")]
"""``--days N``: how many days the simulator runs (a week at least)."""

Seed = Annotated[int, typer.Option(help="Simulation seed.")]
"""``--seed N``: the simulator's seed; the same seed simulates the same district."""
