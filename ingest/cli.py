"""The ``anbu bridge`` command."""

from __future__ import annotations

from typing import Annotated

import typer

from config.cli_context import settings_of


def register(app: typer.Typer) -> None:
    """Add ``bridge`` to the ``anbu`` command."""

    @app.command("bridge")
    def bridge(
        ctx: typer.Context,
        client_id: Annotated[
            str | None,
            typer.Option(
                "--client-id",
                help="MQTT client id of this bridge (its persistent session); one per bridge.",
            ),
        ] = None,
        retire: Annotated[
            bool,
            typer.Option(
                "--retire",
                help="Scale down: forward what is still queued for this client id, then end "
                "its MQTT session for good, and exit.",
            ),
        ] = False,
    ) -> None:
        """Forward device messages from MQTT to Kafka (at least once), normalised."""
        from ingest.bridge import Bridge

        bridge = Bridge(settings_of(ctx), client_id=client_id)
        if not retire:
            status = bridge.run_forever()
            if status:
                raise typer.Exit(status)
            return
        bridge.start()
        if not bridge.retire():
            raise typer.Exit(1)
