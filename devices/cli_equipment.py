"""``anbu devices`` commands for gateways and devices, the commissioning check and the copies.

Plain functions; :mod:`devices.cli` registers them under their command names. The copies
are the registry's in Kafka (``snapshot``) and in Mosquitto's files (``sync-mqtt``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from config.cli_context import settings_of
from devices import equipment, rules
from devices.cli_common import registry_errors_end_the_command, when
from devices.commissioning import CheckResult, check_household
from devices.db import init_db, session_factory
from devices.rules import as_request
from devices.schemas import DeviceIn, GatewayIn
from devices.unit_of_work import registry_session


def add_gateway(
    ctx: typer.Context,
    household: Annotated[str, typer.Argument(help="Household id.")],
    gateway_id: Annotated[str | None, typer.Option("--id", help="Default: random gw-...")] = None,
    heartbeat_interval_s: Annotated[int, typer.Option(help="Heartbeat interval, s.")] = 60,
) -> None:
    """Register a gateway; prints its MQTT login once (the password is not stored)."""
    settings = settings_of(ctx)
    values: dict[str, Any] = {
        "gateway_id": gateway_id, "heartbeat_interval_s": heartbeat_interval_s
    }
    with registry_errors_end_the_command():
        as_request(GatewayIn, **values)
        with registry_session(settings) as session:
            row, password = equipment.create_gateway(session, household, **values)
    typer.echo(f"gateway:       {row.id}")
    host = settings.registry.gateway_mqtt_host or settings.mqtt.host
    port = settings.registry.gateway_mqtt_port or settings.mqtt.port
    typer.echo(f"mqtt host:     {host}:{port}")
    typer.echo(f"mqtt username: {row.id}")
    typer.echo(f"mqtt password: {password}")
    typer.echo("Write the password into the gateway now; it is shown only once.")


def add_device(
    ctx: typer.Context,
    household: Annotated[str, typer.Argument(help="Household id.")],
    kind: Annotated[str, typer.Option(help=f"One of {', '.join(rules.DEVICE_KINDS)}.")],
    source_format: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(rules.SOURCE_FORMATS)}.")
    ],
    topic: Annotated[str, typer.Option(help="Base MQTT topic, e.g. zigbee2mqtt/hall_pir.")],
    device_id: Annotated[str | None, typer.Option("--id", help="Default: random dev-...")] = None,
    room: Annotated[str | None, typer.Option(help="Room, e.g. kitchen.")] = None,
    interval: Annotated[int, typer.Option(help="Longest healthy silence, s.")] = 3600,
    gateway: Annotated[str | None, typer.Option(help="Gateway id it reports through.")] = None,
) -> None:
    """Register a device; prints its id."""
    values: dict[str, Any] = {
        "device_id": device_id, "room": room, "reporting_interval_s": interval,
        "gateway_id": gateway,
    }
    with registry_errors_end_the_command():
        as_request(DeviceIn, kind=kind, source_format=source_format, mqtt_topic=topic, **values)
        with registry_session(settings_of(ctx)) as session:
            row = equipment.add_device(session, household, kind, source_format, topic, **values)
    typer.echo(row.id)


def replace_device(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Id of the device being replaced.")],
    new_id: Annotated[str | None, typer.Option("--id", help="New device id.")] = None,
    topic: Annotated[str | None, typer.Option(help="New base topic (default: same).")] = None,
    source_format: Annotated[str | None, typer.Option("--format", help="New format.")] = None,
    kind: Annotated[str | None, typer.Option(help="New kind.")] = None,
) -> None:
    """Replace a device; the old one stays in the history. Prints the new id."""
    with registry_errors_end_the_command(), registry_session(settings_of(ctx)) as session:
        row = equipment.replace_device(
            session, device, new_device_id=new_id, mqtt_topic=topic,
            source_format=source_format, kind=kind,
        )
    typer.echo(row.id)


def retire_device(ctx: typer.Context, device: Annotated[str, typer.Argument()]) -> None:
    """Retire a device (kept in the history)."""
    with registry_errors_end_the_command(), registry_session(settings_of(ctx)) as session:
        equipment.retire_device(session, device)
    typer.echo(f"{device} retired")


def _print_check(result: CheckResult) -> None:
    typer.echo(f"household {result.household_id}: {result.summary} / {result.summary_ko}")
    for g in result.gateways:
        typer.echo(f"  gateway {g.gateway_id:<20} {g.status:<8} last seen {when(g.last_seen_at)}")
    for d in result.devices:
        typer.echo(
            f"  {d.device_id:<20} {d.kind:<8} {(d.room or '-'):<12} {d.status:<8} "
            f"({d.status_ko}) last seen {when(d.last_seen_at)}  [{d.mqtt_topic}]"
        )


def check(
    ctx: typer.Context,
    household: Annotated[str, typer.Argument(help="Household id.")],
    wait: Annotated[
        float, typer.Option(help="Keep checking up to this many seconds until all report.")
    ] = 0.0,
) -> None:
    """Commissioning check: has every device reported since installation? Exit 1 if not.

    Last reports are learned by the running web process (``anbu web``, part of ``anbu up``).
    """
    engine = init_db(settings_of(ctx))
    deadline = time.monotonic() + wait
    while True:
        with registry_errors_end_the_command(), session_factory(engine)() as session:
            result = check_household(session, household)
        if result.ok or time.monotonic() >= deadline:
            break
        time.sleep(2)
    _print_check(result)
    if not result.ok:
        raise typer.Exit(1)


def snapshot(ctx: typer.Context) -> None:
    """Republish the whole registry to ``anbu.registry`` (refills a broker that lost data)."""
    from devices.publisher import close_producers, publish_snapshot

    settings = settings_of(ctx)
    count = publish_snapshot(settings, init_db(settings))
    close_producers()
    typer.echo(f"published {count} record(s) to {settings.kafka.topics.registry}")


def sync_mqtt(ctx: typer.Context) -> None:
    """Rewrite Mosquitto's password and ACL files from the registry and reload it."""
    from devices.mqtt_accounts import mosquitto_dir, sync_mosquitto

    settings = settings_of(ctx)
    reloaded = sync_mosquitto(settings, init_db(settings))
    typer.echo(f"wrote {mosquitto_dir(settings)}/passwd and acl; reloaded: {reloaded}")
