"""``anbu alerts``: run the alerts service."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from config.cli_context import settings_of


def alerts(ctx: typer.Context) -> None:
    """Consume detector alerts, escalate, notify care centers, record every change."""
    from alerts.service import AlertService

    settings = settings_of(ctx)

    async def main() -> None:
        service = AlertService(settings, serve_metrics=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await service.start()
        try:
            await stop.wait()
        finally:
            await service.stop()

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to the ``anbu`` command."""
    app.command("alerts")(alerts)
