"""``anbu web``: serve the installer API, the inbox and the dashboards."""

from __future__ import annotations

import typer
import uvicorn

from anbu.cli_support import settings_of
from web.app import create_app


def web(ctx: typer.Context) -> None:
    """Serve the web pages and APIs on the configured host and port."""
    settings = settings_of(ctx)
    uvicorn.run(
        create_app(settings),
        host=settings.web.host,
        port=settings.web.port,
        log_level="warning",
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``web`` to the ``anbu`` command."""
    app.command("web")(web)
