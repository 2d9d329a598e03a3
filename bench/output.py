"""What the ``anbu bench`` subcommands share: the ``--output`` option and writing figures there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

Output = Annotated[Path | None, typer.Option(help="Also write the figures as JSON here.")]
"""``--output FILE``: where a subcommand also writes its figures (nowhere when not given)."""

JsonOut = Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")]
"""``--json FILE``: the same, under the name the older subcommands have."""


def write_figures(path: Path | None, figures: Any, **dumps: Any) -> None:
    """Write ``figures`` to ``path`` as indented JSON ending in a newline; nothing when None.

    Args:
        path: the file, or None.
        figures: what the benchmark measured (JSON-serialisable).
        dumps: more keyword arguments for :func:`json.dumps` (``ensure_ascii=False``).
    """
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, **dumps) + "\n")
