"""``anbu devices`` commands for care centers, households, residents and the CSV import.

Plain functions; :mod:`devices.cli` registers them under their command names.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from config.cli_context import settings_of
from devices import residents, service
from devices.cli_common import fail, registry_errors_end_the_command
from devices.csv_import import COLUMNS, import_csv
from devices.db import init_db, session_factory
from devices.exceptions import ImportRejected, RegistryError
from devices.models import Device, Household
from devices.rules import as_request
from devices.schemas import CenterIn, ContactIn, HouseholdIn, ResidentIn
from devices.unit_of_work import registry_session


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
    # checked as the API checks its body, then given to the service as they are
    values: dict[str, Any] = {
        "dongs": dong or [], "duty_phone": duty_phone, "email": email, "webhook_url": webhook_url
    }
    with registry_errors_end_the_command():
        as_request(CenterIn, care_center_id=care_center_id, name=name, **values)
        with registry_session(settings_of(ctx)) as session:
            service.create_care_center(session, care_center_id, name, **values)
    typer.echo(care_center_id)


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
        raise fail(ValueError("--resident-birth-date: expected YYYY-MM-DD")) from None
    household: dict[str, Any] = {
        "household_id": household_id, "address": address, "inactivity_hours": inactivity_hours,
        "checkin_enabled": checkin, "checkin_schedule": checkin_schedule,
    }
    resident: dict[str, Any] = {"phone": resident_phone, "birth_date": birth, "consent": consent}
    with registry_errors_end_the_command():
        as_request(HouseholdIn, care_center_id=center, dong=dong, **household)
        if resident_name:
            as_request(ResidentIn, name=resident_name, **resident)
        with registry_session(settings_of(ctx)) as session:
            row = service.create_household(
                session, center, dong, quiet_hours=quiet_hours, **household
            )
            if resident_name:
                residents.add_resident(session, row.id, resident_name, **resident)
    typer.echo(row.id)


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
    details: dict[str, Any] = {"relation": relation, "phone": phone, "email": email}
    with registry_errors_end_the_command():
        as_request(ContactIn, tier=tier, name=name, **details)
        with registry_session(settings_of(ctx)) as session:
            row = residents.add_contact(session, household, tier, name, **details)
    typer.echo(f"contact {row.id} added at tier {tier}")


def retire_household(ctx: typer.Context, household: Annotated[str, typer.Argument()]) -> None:
    """Stop watching a household (its gateways and devices are retired)."""
    with registry_errors_end_the_command(), registry_session(settings_of(ctx)) as session:
        service.retire_household(session, household)
    typer.echo(f"{household} retired")


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
            count = session.scalar(
                select(func.count(Device.id)).where(
                    Device.household_id == row.id, Device.retired_at.is_(None)
                )
            )
            typer.echo(f"{row.id}\t{row.care_center_id}\t{row.dong}\t{count} device(s)")


def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file with a header row.", exists=True)],
) -> None:
    """Import households and devices from CSV: all rows or none; every bad row is listed."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise fail(ValueError(f"{file} is not UTF-8 text")) from None
    started = time.perf_counter()
    try:
        with registry_session(settings_of(ctx)) as session:
            result = import_csv(session, text)
    except ImportRejected as exc:
        typer.echo(f"{exc} / 가져오기 거부, 아무것도 저장하지 않았습니다", err=True)
        for error in exc.errors:
            typer.echo(f"  line {error.line}: {error.field}: {error.reason}", err=True)
        raise typer.Exit(1) from None
    except RegistryError as exc:
        raise fail(exc) from None
    typer.echo(
        f"imported {result.households_created} household(s), {result.devices_created} "
        f"device(s), {result.residents_created} resident(s) in "
        f"{time.perf_counter() - started:.1f}s"
    )


def columns() -> None:
    """Print the CSV columns ``import`` understands."""
    typer.echo(",".join(COLUMNS))
