"""``anbu devices``: the registry from the command line, for installers in the field.

Commands work on the configured registry database directly (``settings.registry_url()``),
publish every change to ``anbu.registry`` and rewrite Mosquitto's accounts, exactly as
the HTTP API does. Each command is a thin wrapper (options, one service call, a printed
line) in the module of its subject; this one lists them all, in the order ``--help`` shows.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from devices.cli_equipment import (
    add_device,
    add_gateway,
    check,
    replace_device,
    retire_device,
    snapshot,
    sync_mqtt,
)
from devices.cli_households import (
    add_center,
    add_contact,
    add_household,
    columns,
    import_file,
    list_households,
    retire_household,
)
from devices.cli_tokens import token_create, token_list, token_revoke

__all__ = [
    "COMMANDS", "TOKEN_COMMANDS", "add_center", "add_contact", "add_device", "add_gateway",
    "add_household", "check", "columns", "devices_app", "import_file", "list_households",
    "register", "replace_device", "retire_device", "retire_household", "snapshot", "sync_mqtt",
    "token_app", "token_create", "token_list", "token_revoke",
]

devices_app = typer.Typer(
    help="Device registry: care centers, households, gateways, devices, tokens.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
devices_app.add_typer(token_app, name="token")

# command name -> function, in the order ``anbu devices --help`` lists them
COMMANDS: dict[str, Callable[..., None]] = {
    "add-center": add_center,
    "add-household": add_household,
    "add-contact": add_contact,
    "add-gateway": add_gateway,
    "add-device": add_device,
    "replace-device": replace_device,
    "retire-device": retire_device,
    "retire-household": retire_household,
    "list": list_households,
    "import": import_file,
    "columns": columns,
    "check": check,
    "snapshot": snapshot,
    "sync-mqtt": sync_mqtt,
}
TOKEN_COMMANDS: dict[str, Callable[..., None]] = {
    "create": token_create, "list": token_list, "revoke": token_revoke
}
for _name, _command in COMMANDS.items():
    devices_app.command(_name)(_command)
for _name, _command in TOKEN_COMMANDS.items():
    token_app.command(_name)(_command)


def register(app: typer.Typer) -> None:
    """Add ``devices`` to the ``anbu`` command."""
    app.add_typer(devices_app, name="devices")
