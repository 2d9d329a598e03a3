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
    from anbu.kafka_consumers import EXIT_GAVE_UP

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
            # until stopped, or until a loop gave up
            stopped = asyncio.ensure_future(stop.wait())
            ended = asyncio.ensure_future(service.ended.wait())
            await asyncio.wait([stopped, ended], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            ended.cancel()
        finally:
            await service.stop()
        if service.failure is not None:
            # the supervisor (``anbu up``, systemd, Docker) restarts the process
            raise typer.Exit(EXIT_GAVE_UP)

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to the ``anbu`` command."""
    app.command("alerts")(alerts)
