"""``anbu devices``: the registry from the command line, for installers in the field.

Commands work on the configured registry database directly (``settings.registry_url()``),
publish every change to ``anbu.registry`` and rewrite Mosquitto's accounts, exactly as
the HTTP API does.

One module over 400 lines on purpose: it is the one ``anbu devices`` command group, each
command a thin wrapper (options, one service call, a printed line); the logic is in the
service modules, so splitting it would only scatter the command's help across files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from anbu.timeutil import in_seoul
from config import Settings
from config.cli_context import settings_of
from devices import equipment, residents, rules, service, tokens
from devices.commissioning import CheckResult, check_household
from devices.csv_import import COLUMNS, import_csv
from devices.db import init_db, session_factory
from devices.exceptions import ImportRejected, RegistryError
from devices.models import ApiToken, Device, Household
from devices.rules import as_request
from devices.schemas import CenterIn, ContactIn, DeviceIn, GatewayIn, HouseholdIn, ResidentIn
from devices.unit_of_work import registry_session

devices_app = typer.Typer(
    help="Device registry: care centers, households, gateways, devices, tokens.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
devices_app.add_typer(token_app, name="token")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@contextmanager
def _registry_errors_end_the_command() -> Iterator[None]:
    """End the command on a refusal of the registry: its message on stderr, exit code 1.

    Bad input, an unknown id or a conflict is the user's to fix, not a traceback.
    """
    try:
        yield
    except RegistryError as exc:
        raise _fail(exc) from None


def _session(settings: Settings) -> Any:
    return registry_session(settings)


def _when(moment: Any) -> str:
    return in_seoul(moment).strftime("%Y-%m-%d %H:%M:%S KST") if moment else "-"


@devices_app.command("add-center")
def add_center(
    ctx: typer.Context,
    care_center_id: Annotated[str, typer.Argument(help="Id, e.g. cc-mapo-01.")],
    name: Annotated[str, typer.Argument(help="Name of the center.")],
    dong: Annotated[list[str] | None, typer.Option("--dong", help="A dong it covers.")] = None,
    duty_phone: Annotated[str | None, typer.Option(help="Duty desk phone.")] = None,
    email: Annotated[str | None, typer.Option(help="Duty desk e-mail.")] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Alert webhook URL.")] = None,
) -> None:
    """Register a care center."""
    with _registry_errors_end_the_command():
        as_request(CenterIn, care_center_id=care_center_id, name=name, dongs=dong or [],
                   duty_phone=duty_phone, email=email, webhook_url=webhook_url)
        with _session(settings_of(ctx)) as session:
            service.create_care_center(
                session,
                care_center_id,
                name,
                dongs=dong or [],
                duty_phone=duty_phone,
                email=email,
                webhook_url=webhook_url,
            )
    typer.echo(care_center_id)


@devices_app.command("add-household")
def add_household(
    ctx: typer.Context,
    center: Annotated[str, typer.Option("--center", help="Care center id.")],
    dong: Annotated[str, typer.Option("--dong", help="Dong (neighbourhood).")],
    household_id: Annotated[
        str | None, typer.Option("--id", help="Pseudonymous id; default: random hh-...")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Street address (kept private).")] = None,
    inactivity_hours: Annotated[float, typer.Option(help="Fixed inactivity rule, hours.")] = 24.0,
    quiet_hours: Annotated[str | None, typer.Option(help="e.g. 22:00-06:00 (Seoul).")] = None,
    checkin: Annotated[bool, typer.Option(help="Robot check-in before escalating.")] = True,
    checkin_schedule: Annotated[
        str | None, typer.Option(help="Voice-bot check-in calls, e.g. 'mon-fri 10:00' (Seoul).")
    ] = None,
    resident_name: Annotated[str | None, typer.Option(help="Resident's name.")] = None,
    resident_phone: Annotated[str | None, typer.Option(help="Resident's phone.")] = None,
    resident_birth_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD.")] = None,
    consent: Annotated[bool, typer.Option(help="Resident consented to monitoring.")] = False,
) -> None:
    """Register a household (and its resident); prints the household id."""
    try:
        birth = date.fromisoformat(resident_birth_date) if resident_birth_date else None
    except ValueError:
        raise _fail(ValueError("--resident-birth-date: expected YYYY-MM-DD")) from None
    with _registry_errors_end_the_command():
        as_request(HouseholdIn, care_center_id=center, dong=dong, household_id=household_id,
                   address=address, inactivity_hours=inactivity_hours, checkin_enabled=checkin,
                   checkin_schedule=checkin_schedule)
        if resident_name:
            as_request(ResidentIn, name=resident_name, phone=resident_phone, birth_date=birth,
                       consent=consent)
        with _session(settings_of(ctx)) as session:
            row = service.create_household(
                session,
                center,
                dong,
                household_id=household_id,
                address=address,
                inactivity_hours=inactivity_hours,
                quiet_hours=quiet_hours,
                checkin_enabled=checkin,
                checkin_schedule=checkin_schedule,
            )
            if resident_name:
                residents.add_resident(
                    session,
                    row.id,
                    resident_name,
                    phone=resident_phone,
                    birth_date=birth,
                    consent=consent,
                )
    typer.echo(row.id)


@devices_app.command("add-contact")
def add_contact(
    ctx: typer.Context,
    household: Annotated[str, typer.Argument(help="Household id.")],
    tier: Annotated[int, typer.Option(help="Escalation tier, 1 first.")],
    name: Annotated[str, typer.Option(help="Contact's name.")],
    phone: Annotated[str | None, typer.Option(help="Phone.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail.")] = None,
    relation: Annotated[str | None, typer.Option(help="e.g. daughter, neighbour.")] = None,
) -> None:
    """Add an escalation contact to a household."""
    with _registry_errors_end_the_command():
        as_request(ContactIn, tier=tier, name=name, relation=relation, phone=phone, email=email)
        with _session(settings_of(ctx)) as session:
            row = residents.add_contact(
                session, household, tier, name, relation=relation, phone=phone, email=email
            )
    typer.echo(f"contact {row.id} added at tier {tier}")


@devices_app.command("add-gateway")
def add_gateway(
    ctx: typer.Context,
    household: Annotated[str, typer.Argument(help="Household id.")],
    gateway_id: Annotated[str | None, typer.Option("--id", help="Default: random gw-...")] = None,
    heartbeat_interval_s: Annotated[int, typer.Option(help="Heartbeat interval, s.")] = 60,
) -> None:
    """Register a gateway; prints its MQTT login once (the password is not stored)."""
    settings = settings_of(ctx)
    with _registry_errors_end_the_command():
        as_request(GatewayIn, gateway_id=gateway_id, heartbeat_interval_s=heartbeat_interval_s)
        with _session(settings) as session:
            row, password = equipment.create_gateway(
                session,
                household,
                gateway_id=gateway_id,
                heartbeat_interval_s=heartbeat_interval_s,
            )
    typer.echo(f"gateway:       {row.id}")
    host = settings.registry.gateway_mqtt_host or settings.mqtt.host
    port = settings.registry.gateway_mqtt_port or settings.mqtt.port
    typer.echo(f"mqtt host:     {host}:{port}")
    typer.echo(f"mqtt username: {row.id}")
    typer.echo(f"mqtt password: {password}")
    typer.echo("Write the password into the gateway now; it is shown only once.")


@devices_app.command("add-device")
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
    with _registry_errors_end_the_command():
        as_request(DeviceIn, device_id=device_id, kind=kind, source_format=source_format,
                   mqtt_topic=topic, room=room, reporting_interval_s=interval,
                   gateway_id=gateway)
        with _session(settings_of(ctx)) as session:
            row = equipment.add_device(
                session,
                household,
                kind,
                source_format,
                topic,
                device_id=device_id,
                room=room,
                reporting_interval_s=interval,
                gateway_id=gateway,
            )
    typer.echo(row.id)


@devices_app.command("replace-device")
def replace_device(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Id of the device being replaced.")],
    new_id: Annotated[str | None, typer.Option("--id", help="New device id.")] = None,
    topic: Annotated[str | None, typer.Option(help="New base topic (default: same).")] = None,
    source_format: Annotated[str | None, typer.Option("--format", help="New format.")] = None,
    kind: Annotated[str | None, typer.Option(help="New kind.")] = None,
) -> None:
    """Replace a device; the old one stays in the history. Prints the new id."""
    with _registry_errors_end_the_command():
        with _session(settings_of(ctx)) as session:
            row = equipment.replace_device(
                session,
                device,
                new_device_id=new_id,
                mqtt_topic=topic,
                source_format=source_format,
                kind=kind,
            )
    typer.echo(row.id)


@devices_app.command("retire-device")
def retire_device(ctx: typer.Context, device: Annotated[str, typer.Argument()]) -> None:
    """Retire a device (kept in the history)."""
    with _registry_errors_end_the_command():
        with _session(settings_of(ctx)) as session:
            equipment.retire_device(session, device)
    typer.echo(f"{device} retired")


@devices_app.command("retire-household")
def retire_household(ctx: typer.Context, household: Annotated[str, typer.Argument()]) -> None:
    """Stop watching a household (its gateways and devices are retired)."""
    with _registry_errors_end_the_command():
        with _session(settings_of(ctx)) as session:
            service.retire_household(session, household)
    typer.echo(f"{household} retired")


@devices_app.command("list")
def list_households(
    ctx: typer.Context,
    center: Annotated[str | None, typer.Option(help="Only this care center.")] = None,
) -> None:
    """List active households with their device counts."""
    engine = init_db(settings_of(ctx))
    with session_factory(engine)() as session:
        query = select(Household).where(Household.retired_at.is_(None)).order_by(Household.id)
        if center:
            query = query.where(Household.care_center_id == center)
        for row in session.scalars(query):
            count = len(
                list(
                    session.scalars(
                        select(Device.id).where(
                            Device.household_id == row.id, Device.retired_at.is_(None)
                        )
                    )
                )
            )
            typer.echo(f"{row.id}\t{row.care_center_id}\t{row.dong}\t{count} device(s)")


@devices_app.command("import")
def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file with a header row.", exists=True)],
) -> None:
    """Import households and devices from CSV: all rows or none; every bad row is listed."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(ValueError(f"{file} is not UTF-8 text")) from None
    started = time.perf_counter()
    try:
        with _session(settings_of(ctx)) as session:
            result = import_csv(session, text)
    except ImportRejected as exc:
        typer.echo(f"{exc} / 가져오기 거부, 아무것도 저장하지 않았습니다", err=True)
        for error in exc.errors:
            typer.echo(f"  line {error.line}: {error.field}: {error.reason}", err=True)
        raise typer.Exit(1) from None
    except RegistryError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"imported {result.households_created} household(s), {result.devices_created} "
        f"device(s), {result.residents_created} resident(s) in "
        f"{time.perf_counter() - started:.1f}s"
    )


@devices_app.command("columns")
def columns() -> None:
    """Print the CSV columns ``import`` understands."""
    typer.echo(",".join(COLUMNS))


def _print_check(result: CheckResult) -> None:
    typer.echo(f"household {result.household_id}: {result.summary} / {result.summary_ko}")
    for g in result.gateways:
        typer.echo(f"  gateway {g.gateway_id:<20} {g.status:<8} last seen {_when(g.last_seen_at)}")
    for d in result.devices:
        typer.echo(
            f"  {d.device_id:<20} {d.kind:<8} {(d.room or '-'):<12} {d.status:<8} "
            f"({d.status_ko}) last seen {_when(d.last_seen_at)}  [{d.mqtt_topic}]"
        )


@devices_app.command("check")
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
        with _registry_errors_end_the_command():
            with session_factory(engine)() as session:
                result = check_household(session, household)
        if result.ok or time.monotonic() >= deadline:
            break
        time.sleep(2)
    _print_check(result)
    if not result.ok:
        raise typer.Exit(1)


@devices_app.command("snapshot")
def snapshot(ctx: typer.Context) -> None:
    """Republish the whole registry to ``anbu.registry`` (refills a broker that lost data)."""
    from devices.publisher import close_producers, publish_snapshot

    settings = settings_of(ctx)
    count = publish_snapshot(settings, init_db(settings))
    close_producers()
    typer.echo(f"published {count} record(s) to {settings.kafka.topics.registry}")


@devices_app.command("sync-mqtt")
def sync_mqtt(ctx: typer.Context) -> None:
    """Rewrite Mosquitto's password and ACL files from the registry and reload it."""
    from devices.mqtt_accounts import mosquitto_dir, sync_mosquitto

    settings = settings_of(ctx)
    reloaded = sync_mosquitto(settings, init_db(settings))
    typer.echo(f"wrote {mosquitto_dir(settings)}/passwd and acl; reloaded: {reloaded}")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="installer, staff, operator or admin.")],
    name: Annotated[str, typer.Option(help="Who holds it, for the audit trail.")] = "",
    center: Annotated[
        str | None, typer.Option("--center", help="Care center (required for staff).")
    ] = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    with _registry_errors_end_the_command():
        with _session(settings_of(ctx)) as session:
            row, token = tokens.create_token(
                session, role, name=name or role, care_center_id=center
            )
    typer.echo(f"token id: {row.id}", err=True)
    typer.echo(token)


@token_app.command("list")
def token_list(ctx: typer.Context) -> None:
    """List tokens (never the tokens themselves)."""
    engine = init_db(settings_of(ctx))
    with session_factory(engine)() as session:
        for row in session.scalars(select(ApiToken).order_by(ApiToken.created_at)):
            state = f"revoked {_when(row.revoked_at)}" if row.revoked_at else "active"
            typer.echo(f"{row.id}\t{row.role}\t{row.care_center_id or '*'}\t{row.name}\t{state}")


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a token by its id."""
    with _registry_errors_end_the_command():
        with _session(settings_of(ctx)) as session:
            tokens.revoke_token(session, token_id)
    typer.echo(f"{token_id} revoked")


def register(app: typer.Typer) -> None:
    """Add ``devices`` to the ``anbu`` command."""
    app.add_typer(devices_app, name="devices")
