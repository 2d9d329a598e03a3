"""What the ``anbu devices`` commands share: the registry's refusals as an exit, times shown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer

from anbu.timeutil import in_seoul
from devices.exceptions import RegistryError


def fail(exc: Exception) -> typer.Exit:
    """Print ``exc`` on stderr; the exit (code 1) for the caller to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@contextmanager
def registry_errors_end_the_command() -> Iterator[None]:
    """End the command on a refusal of the registry: its message on stderr, exit code 1.

    Bad input, an unknown id or a conflict is the user's to fix, not a traceback.
    """
    try:
        yield
    except RegistryError as exc:
        raise fail(exc) from None


def when(moment: datetime | None) -> str:
    """A moment as shown to the installer (Seoul time), ``-`` for none."""
    return in_seoul(moment).strftime("%Y-%m-%d %H:%M:%S KST") if moment else "-"
