"""What every route of the registry's API shares: sessions, the caller, ownership checks.

A household of another care center is answered with 404, exactly as a household that does
not exist (:func:`household_of`), so staff cannot even learn that it exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from config import Settings
from devices.auth import get_principal
from devices.changes import changes_of
from devices.db import init_db, session_factory
from devices.exceptions import Forbidden, NotFound
from devices.models import CareCenter, Contact, Device, Gateway, Household, Resident
from devices.principals import Principal, Role, can_see_household
from devices.schemas import HouseholdOut
from devices.unit_of_work import apply_changes

IMPORT_PATH = "/api/v1/import"

Caller = Annotated[Principal, Depends(get_principal)]

WRITERS = (Role.ADMIN, Role.INSTALLER)
CARERS = (Role.ADMIN, Role.INSTALLER, Role.STAFF, Role.LEAD)


def settings_of(request: Request) -> Settings:
    """The web app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    """The registry database's engine, created on first use."""
    engine = getattr(request.app.state, "registry_engine", None)
    if engine is None:
        engine = init_db(settings_of(request))
        request.app.state.registry_engine = engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request (rolled back unless :func:`commit` ran)."""
    with session_factory(engine_of(request))() as session:
        yield session


Db = Annotated[Session, Depends(get_session)]


def commit(request: Request, session: Session) -> None:
    """Commit, then publish the changes and rewrite Mosquitto's files if needed."""
    changes = changes_of(session)
    session.commit()
    apply_changes(settings_of(request), changes)


def require(principal: Principal, *roles: Role) -> None:
    """Refuse a caller whose role is not among ``roles``."""
    if principal.role not in roles:
        raise Forbidden(f"a {principal.role} token may not do this / 권한이 없습니다")


def household_of(session: Session, principal: Principal, household_id: str) -> Household:
    """The household, or 404 if it does not exist or the caller may not see it."""
    row = session.get(Household, household_id)
    if row is None or not can_see_household(principal, row.care_center_id):
        raise NotFound("household", household_id)
    return row


def owned_row(
    session: Session, principal: Principal, model: Any, kind: str, ident: str | int
) -> Any:
    """A row that belongs to a household, if the caller may see that household."""
    row = session.get(model, ident)
    if row is None:
        raise NotFound(kind, str(ident))
    household_of(session, principal, row.household_id)
    return row


def device_of(session: Session, principal: Principal, device_id: str) -> Device:
    """The device, if the caller may see its household."""
    device: Device = owned_row(session, principal, Device, "device", device_id)
    return device


def gateway_of(session: Session, principal: Principal, gateway_id: str) -> Gateway:
    """The gateway, if the caller may see its household."""
    gateway: Gateway = owned_row(session, principal, Gateway, "gateway", gateway_id)
    return gateway


def resident_of(session: Session, principal: Principal, resident_id: int) -> Resident:
    """The resident, if the caller may see their household."""
    resident: Resident = owned_row(session, principal, Resident, "resident", resident_id)
    return resident


def contact_of(session: Session, principal: Principal, contact_id: int) -> Contact:
    """The contact, if the caller may see its household."""
    contact: Contact = owned_row(session, principal, Contact, "contact", contact_id)
    return contact


def center_of(session: Session, principal: Principal, care_center_id: str) -> CareCenter:
    """The care center, or 404 if it does not exist or the caller may not see it."""
    row = session.get(CareCenter, care_center_id)
    if row is None or not can_see_household(principal, care_center_id):
        raise NotFound("care center", care_center_id)
    return row


def household_out(row: Household, principal: Principal) -> HouseholdOut:
    """The household as answered; no address or notes for an operator."""
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = {"start": row.quiet_start, "end": row.quiet_end}
    personal = principal.role is not Role.OPERATOR
    return HouseholdOut.model_validate(
        {
            "id": row.id,
            "care_center_id": row.care_center_id,
            "dong": row.dong,
            "address": row.address if personal else None,
            "notes": row.notes if personal else None,
            "inactivity_hours": row.inactivity_hours,
            "routine_enabled": row.routine_enabled,
            "quiet_hours": quiet,
            "away_periods": row.away_periods or [],
            "escalation_delays_s": row.escalation_delays_s or [],
            "checkin_enabled": row.checkin_enabled,
            "checkin_schedule": row.checkin_schedule,
            "created_at": row.created_at,
            "retired_at": row.retired_at,
        }
    )


Limit = Annotated[int, Query(ge=1, le=1000)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
