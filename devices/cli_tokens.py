"""``anbu devices token``: API tokens, shown once and stored hashed.

Plain functions; :mod:`devices.cli` registers them under their command names.
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from config.cli_context import settings_of
from devices import tokens
from devices.cli_common import registry_errors_end_the_command, when
from devices.db import init_db, session_factory
from devices.models import ApiToken
from devices.unit_of_work import registry_session


def token_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="installer, staff, operator or admin.")],
    name: Annotated[str, typer.Option(help="Who holds it, for the audit trail.")] = "",
    center: Annotated[
        str | None, typer.Option("--center", help="Care center (required for staff).")
    ] = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    with registry_errors_end_the_command(), registry_session(settings_of(ctx)) as session:
        row, token = tokens.create_token(session, role, name=name or role, care_center_id=center)
    typer.echo(f"token id: {row.id}", err=True)
    typer.echo(token)


def token_list(ctx: typer.Context) -> None:
    """List tokens (never the tokens themselves)."""
    engine = init_db(settings_of(ctx))
    with session_factory(engine)() as session:
        for row in session.scalars(select(ApiToken).order_by(ApiToken.created_at)):
            state = f"revoked {when(row.revoked_at)}" if row.revoked_at else "active"
            typer.echo(f"{row.id}\t{row.role}\t{row.care_center_id or '*'}\t{row.name}\t{state}")


def token_revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a token by its id."""
    with registry_errors_end_the_command(), registry_session(settings_of(ctx)) as session:
        tokens.revoke_token(session, token_id)
    typer.echo(f"{token_id} revoked")
