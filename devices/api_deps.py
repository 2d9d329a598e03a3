"""What every route of the registry's API shares: sessions, the caller, ownership checks.

A household of another care center is answered with 404, exactly as a household that does
not exist (:func:`household_of`), so staff cannot even learn that it exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, TypeVar

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
from devices.service import get_row
from devices.unit_of_work import apply_changes

IMPORT_PATH = "/api/v1/import"

Caller = Annotated[Principal, Depends(get_principal)]

T = TypeVar("T")
# what belongs to one household and is looked up by its own id in a route's path
Owned = TypeVar("Owned", Gateway, Device, Resident, Contact)

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


def commit(request: Request, session: Session, result: T) -> T:
    """Commit, then publish the changes and rewrite Mosquitto's files if needed.

    Returns:
        ``result`` (what the route made or changed), so a route commits and answers in one.
    """
    changes = changes_of(session)
    session.commit()
    apply_changes(settings_of(request), changes)
    return result


def require(principal: Principal, *roles: Role) -> None:
    """Refuse a caller whose role is not among ``roles``."""
    if principal.role not in roles:
        raise Forbidden(f"a {principal.role} token may not do this / 권한이 없습니다")


# The lookups below answer 404 before 403: a caller who may not see the row learns nothing
# of it, and ``roles`` (when given) then limits what a caller who sees it may do.


def household_of(
    session: Session, principal: Principal, household_id: str, *roles: Role
) -> Household:
    """The household, or 404 if it does not exist or the caller may not see it.

    Raises:
        NotFound: no such household, or one of another care center.
        Forbidden: ``roles`` are given and the caller's role is not among them.
    """
    row = session.get(Household, household_id)
    if row is None or not can_see_household(principal, row.care_center_id):
        raise NotFound("household", household_id)
    if roles:
        require(principal, *roles)
    return row


def owned_row(
    session: Session, principal: Principal, model: type[Owned], ident: str | int, *roles: Role
) -> Owned:
    """A gateway, device, resident or contact, if the caller may see its household.

    Raises:
        NotFound: no such row (named by its model: "device", "contact"...), or one of a
            household the caller may not see.
        Forbidden: ``roles`` are given and the caller's role is not among them.
    """
    row = get_row(session, model, ident)
    household_of(session, principal, row.household_id, *roles)
    return row


def center_of(
    session: Session, principal: Principal, care_center_id: str, *roles: Role
) -> CareCenter:
    """The care center, or 404 if it does not exist or the caller may not see it.

    With ``roles``, 403 unless the caller has one of them.
    """
    row = session.get(CareCenter, care_center_id)
    if row is None or not can_see_household(principal, care_center_id):
        raise NotFound("care center", care_center_id)
    if roles:
        require(principal, *roles)
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
