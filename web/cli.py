"""``anbu web``: serve the installer API, the inbox and the dashboards."""

from __future__ import annotations

import typer
import uvicorn

from config.cli_context import settings_of
from web.app import create_app
from web.server import server_config


def web(ctx: typer.Context) -> None:
    """Serve the web pages and APIs on the configured host and port."""
    settings = settings_of(ctx)
    uvicorn.Server(server_config(create_app(settings), settings)).run()


def register(app: typer.Typer) -> None:
    """Add ``web`` to the ``anbu`` command."""
    app.command("web")(web)
