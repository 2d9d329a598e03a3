"""``anbu bench``: benchmarks that print a table and write JSON.

Each benchmark lives in ``bench/<name>.py`` with a ``run(...)`` returning its figures, and a
``bench/<name>_cli.py`` with ``register(bench_app)`` adding its subcommand, listed in
:data:`COMMANDS`. ``anbu bench`` with no subcommand runs them all (``bench/all_cli.py``,
issue 8).
"""

from __future__ import annotations

from types import ModuleType

import typer

from bench import (
    all_cli,
    detectors_cli,
    ingest_cli,
    kafka_cli,
    pipeline_cli,
    quality_cli,
    realism_cli,
    registry_cli,
    review_cli,
    scale_cli,
    sos_cli,
    web_cli,
)

bench_app = typer.Typer(help="Benchmarks: numbers measured in one run on this machine.")

# Plain imports (``anbu bench`` registers every one anyway), in the order of their names.
COMMANDS: tuple[ModuleType, ...] = (
    all_cli, detectors_cli, ingest_cli, kafka_cli, pipeline_cli, quality_cli, realism_cli,
    registry_cli, review_cli, scale_cli, sos_cli, web_cli,
)


def register(app: typer.Typer) -> None:
    """Add ``bench`` and every ``bench/*_cli.py`` subcommand to the ``anbu`` command."""
    for module in COMMANDS:
        module.register(bench_app)
    app.add_typer(bench_app, name="bench")
