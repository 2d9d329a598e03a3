"""``anbu bench``: benchmarks that print a table and write JSON.

Each benchmark lives in ``bench/<name>.py`` with a ``run(...)`` returning its figures, and a
``bench/<name>_cli.py`` with ``register(bench_app)`` adding its subcommand. ``anbu bench``
with no subcommand runs them all (``bench/all_cli.py``, issue 8).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import typer

bench_app = typer.Typer(help="Benchmarks: numbers measured in one run on this machine.")


def register(app: typer.Typer) -> None:
    """Add ``bench`` and every ``bench/*_cli.py`` subcommand to the ``anbu`` command."""
    here = str(Path(__file__).parent)
    for info in sorted(pkgutil.iter_modules([here]), key=lambda m: m.name):
        if info.name.endswith("_cli"):
            importlib.import_module(f"bench.{info.name}").register(bench_app)
    app.add_typer(bench_app, name="bench")
