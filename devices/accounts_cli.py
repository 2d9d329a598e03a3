"""``anbu users``: personal accounts from the server's shell (the first admin, resets).

Whoever can run this can open the registry database, so it acts as an admin; the audit name
is ``anbu users (<login>)``. Passwords are made at random and printed once, unless
``--ask-password`` asks for one.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from anbu.timeutil import in_seoul, utcnow
from config.cli_context import settings_of
from devices import accounts
from devices.db import init_db
from devices.exceptions import RegistryError
from devices.principals import Principal, Role

users_app = typer.Typer(
    help="Personal accounts of staff, center leads, installers, operators and admins.",
    no_args_is_help=True,
)


def _operator() -> Principal:
    return Principal("cli", Role.ADMIN, None, f"anbu users ({getpass.getuser()})")


def _run(ctx: typer.Context, change: Callable[[Session, Principal], str]) -> None:
    """Run ``change`` in one transaction and print what it returns; errors exit 1."""
    try:
        with Session(init_db(settings_of(ctx))) as session:
            said = change(session, _operator())
            session.commit()
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(said)


def _password(ask: bool) -> str | None:
    if not ask:
        return None
    secret: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return secret


@users_app.command("create")
def create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Sign-in name: a-z, 0-9, '.', '_', '-'.")],
    name: Annotated[str, typer.Option("--name", help="The person's name, shown on actions.")],
    role: Annotated[str, typer.Option(help="staff, lead, installer, operator or admin.")],
    center: Annotated[
        str | None, typer.Option("--center", help="Care center (staff and leads need one).")
    ] = None,
    ask_password: Annotated[
        bool, typer.Option("--ask-password", help="Type the password instead of a random one.")
    ] = False,
) -> None:
    """Create an account and print its password once."""
    password = _password(ask_password)
    _run(ctx, lambda session, me: _issued(accounts.create_account(
        session, me, username=username, display_name=name, role=role, care_center_id=center,
        password=password)))


@users_app.command("reset")
def reset(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument()],
    ask_password: Annotated[bool, typer.Option("--ask-password")] = False,
) -> None:
    """Give the account a new password (printed once), unlock it, end its sessions."""
    password = _password(ask_password)
    _run(ctx, lambda session, me: _issued(
        accounts.reset_password(session, me, username, password)))


@users_app.command("disable")
def disable(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Disable the account; its sessions end at once."""
    _run(ctx, lambda session, me: f"{accounts.set_disabled(session, me, username, True).username}"
         " disabled")


@users_app.command("enable")
def enable(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Enable a disabled account (and lift a lock-out)."""
    _run(ctx, lambda session, me: f"{accounts.set_disabled(session, me, username, False).username}"
         " enabled")


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """List accounts (never their passwords)."""

    def lines(session: Session, me: Principal) -> str:
        out = []
        for row in accounts.list_accounts(session, me):
            state = "active"
            if row.disabled_at:
                state = "disabled"
            elif row.locked_until and row.locked_until > utcnow():
                state = f"locked until {in_seoul(row.locked_until):%Y-%m-%d %H:%M} KST"
            out.append(f"{row.username}\t{row.role}\t{row.care_center_id or '*'}\t"
                       f"{row.display_name}\t{state}")
        return "\n".join(out)

    _run(ctx, lines)


def _issued(made: accounts.NewPassword) -> str:
    return f"{made.account.username}\t{made.password}"


def register(app: typer.Typer) -> None:
    """Add ``users`` to the ``anbu`` command."""
    app.add_typer(users_app, name="users")
