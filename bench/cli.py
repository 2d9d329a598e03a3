"""``anbu bench``: benchmarks that print a table and write JSON.

Each benchmark lives in its own module ``bench/<name>.py`` with
``run(settings, **options) -> dict`` returning its figures, and registers a subcommand
here. ``anbu bench`` with no subcommand runs them all (see issue 8).
"""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Benchmarks: numbers measured in one run on this machine.")


def register(app: typer.Typer) -> None:
    """Add ``bench`` and its subcommands to the ``anbu`` command."""
    import importlib
    import importlib.util

    for name in ("ingest", "worker", "detectors", "sos", "web", "pipeline", "quality", "all"):
        module = f"bench.{name}_cli"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).register(bench_app)
    app.add_typer(bench_app, name="bench")
