"""Routes for the caller, care centers, households, residents, contacts and the CSV import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from anbu.http_errors import ErrorRoute
from devices import residents, service
from devices.api_deps import (
    CARERS,
    WRITERS,
    Caller,
    Db,
    Limit,
    Offset,
    RowId,
    center_of,
    commit,
    household_of,
    household_out,
    owned_row,
    require,
    settings_of,
)
from devices.commissioning import CheckResult, check_household
from devices.csv_import import ImportResult, import_csv
from devices.exceptions import InvalidInput, NotFound
from devices.models import CareCenter, Contact, Household, Resident
from devices.principals import Principal, Role, can_see_household
from devices.rules import ID_MAX, SHORT_MAX
from devices.schemas import (
    CenterIn,
    CenterOut,
    CenterPatch,
    ContactIn,
    ContactOut,
    ContactPatch,
    HouseholdIn,
    HouseholdOut,
    HouseholdPatch,
    ResidentIn,
    ResidentOut,
    ResidentPatch,
    WhoAmI,
)
from devices.unit_of_work import registry_session

router = APIRouter(prefix="/api/v1", tags=["registry"], route_class=ErrorRoute)


# --- who am I -------------------------------------------------------------------------


@router.get("/whoami", response_model=WhoAmI)
def whoami(principal: Caller) -> WhoAmI:
    """The token's role and care center."""
    return WhoAmI.model_validate(principal, from_attributes=True)


# --- care centers ---------------------------------------------------------------------


@router.get("/centers", response_model=list[CenterOut])
def list_centers(principal: Caller, session: Db) -> list[CareCenter]:
    """Care centers the caller may see."""
    query = select(CareCenter).order_by(CareCenter.id)
    if principal.role not in (Role.ADMIN, Role.OPERATOR) and principal.care_center_id:
        query = query.where(CareCenter.id == principal.care_center_id)
    return list(session.scalars(query))


@router.post("/centers", response_model=CenterOut, status_code=201)
def create_center(body: CenterIn, principal: Caller, session: Db, request: Request) -> CareCenter:
    """Register a care center (admin)."""
    require(principal, Role.ADMIN)
    data = body.model_dump()
    row = service.create_care_center(session, data.pop("care_center_id"), data.pop("name"), **data)
    return commit(request, session, row)


@router.get("/centers/{care_center_id}", response_model=CenterOut)
def get_center(care_center_id: str, principal: Caller, session: Db) -> CareCenter:
    """One care center."""
    return center_of(session, principal, care_center_id)


@router.patch("/centers/{care_center_id}", response_model=CenterOut)
def patch_center(
    care_center_id: str, body: CenterPatch, principal: Caller, session: Db, request: Request
) -> CareCenter:
    """Change a care center (admin)."""
    center_of(session, principal, care_center_id, Role.ADMIN)
    return commit(request, session, service.update_care_center(session, care_center_id, body))


@router.delete("/centers/{care_center_id}", response_model=CenterOut)
def retire_center(
    care_center_id: str, principal: Caller, session: Db, request: Request
) -> CareCenter:
    """Retire a care center without active households (admin)."""
    center_of(session, principal, care_center_id, Role.ADMIN)
    return commit(request, session, service.retire_care_center(session, care_center_id))


# --- households -----------------------------------------------------------------------


@router.get("/households", response_model=list[HouseholdOut])
def list_households(
    principal: Caller,
    session: Db,
    care_center_id: Annotated[str | None, Query(max_length=ID_MAX)] = None,
    dong: Annotated[str | None, Query(max_length=SHORT_MAX)] = None,
    include_retired: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[HouseholdOut]:
    """Households the caller may see, by id."""
    query = select(Household).order_by(Household.id)
    if principal.role not in (Role.ADMIN, Role.OPERATOR) and principal.care_center_id:
        query = query.where(Household.care_center_id == principal.care_center_id)
    if care_center_id:
        query = query.where(Household.care_center_id == care_center_id)
    if dong:
        query = query.where(Household.dong == dong)
    if not include_retired:
        query = query.where(Household.retired_at.is_(None))
    rows = session.scalars(query.limit(limit).offset(offset))
    return [household_out(r, principal) for r in rows]


@router.post("/households", response_model=HouseholdOut, status_code=201)
def create_household(
    body: HouseholdIn, principal: Caller, session: Db, request: Request
) -> HouseholdOut:
    """Register a household (admin, installer)."""
    require(principal, *WRITERS)
    if not can_see_household(principal, body.care_center_id):
        raise NotFound("care center", body.care_center_id)
    data = body.model_dump(exclude_none=True)
    row = service.create_household(session, data.pop("care_center_id"), data.pop("dong"), **data)
    return household_out(commit(request, session, row), principal)


@router.get("/households/{household_id}", response_model=HouseholdOut)
def get_household(household_id: str, principal: Caller, session: Db) -> HouseholdOut:
    """One household and its settings."""
    return household_out(household_of(session, principal, household_id), principal)


@router.patch("/households/{household_id}", response_model=HouseholdOut)
def patch_household(
    household_id: str, body: HouseholdPatch, principal: Caller, session: Db, request: Request
) -> HouseholdOut:
    """Change a household's settings, e.g. mark it away (admin, installer, staff)."""
    household_of(session, principal, household_id, *CARERS)
    target = body.care_center_id
    if target is not None and not can_see_household(principal, target):
        raise NotFound("care center", target)
    row = commit(request, session, service.update_household(session, household_id, body))
    return household_out(row, principal)


@router.delete("/households/{household_id}", response_model=HouseholdOut)
def retire_household(
    household_id: str, principal: Caller, session: Db, request: Request
) -> HouseholdOut:
    """Stop watching a household; its gateways and devices are retired too."""
    household_of(session, principal, household_id, *WRITERS)
    row = commit(request, session, service.retire_household(session, household_id))
    return household_out(row, principal)


@router.get("/households/{household_id}/check", response_model=CheckResult)
def check(household_id: str, principal: Caller, session: Db) -> CheckResult:
    """Commissioning check: each device's last report and whether it reported since install."""
    household_of(session, principal, household_id)
    return check_household(session, household_id)


# --- residents and contacts -----------------------------------------------------------


@router.get("/households/{household_id}/residents", response_model=list[ResidentOut])
def list_residents(household_id: str, principal: Caller, session: Db) -> list[Resident]:
    """The household's residents (personal data; not for operators)."""
    household_of(session, principal, household_id, *CARERS)
    return list(
        session.scalars(
            select(Resident).where(Resident.household_id == household_id).order_by(Resident.id)
        )
    )


@router.post("/households/{household_id}/residents", response_model=ResidentOut, status_code=201)
def add_resident(
    household_id: str, body: ResidentIn, principal: Caller, session: Db, request: Request
) -> Resident:
    """Record a resident."""
    household_of(session, principal, household_id, *CARERS)
    data = body.model_dump()
    row = residents.add_resident(session, household_id, data.pop("name"), **data)
    return commit(request, session, row)


@router.patch("/residents/{resident_id}", response_model=ResidentOut)
def patch_resident(
    resident_id: RowId, body: ResidentPatch, principal: Caller, session: Db, request: Request
) -> Resident:
    """Change a resident's details."""
    owned_row(session, principal, Resident, resident_id, *CARERS)
    return commit(request, session, residents.update_resident(session, resident_id, body))


@router.delete("/residents/{resident_id}", response_model=ResidentOut)
def retire_resident(
    resident_id: RowId, principal: Caller, session: Db, request: Request
) -> Resident:
    """Mark a resident as moved out."""
    owned_row(session, principal, Resident, resident_id, *CARERS)
    return commit(request, session, residents.retire_resident(session, resident_id))


@router.get("/households/{household_id}/contacts", response_model=list[ContactOut])
def list_contacts(household_id: str, principal: Caller, session: Db) -> list[Contact]:
    """Escalation contacts by tier (personal data; not for operators)."""
    household_of(session, principal, household_id, *CARERS)
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.household_id == household_id)
            .order_by(Contact.tier, Contact.id)
        )
    )


@router.post("/households/{household_id}/contacts", response_model=ContactOut, status_code=201)
def add_contact(
    household_id: str, body: ContactIn, principal: Caller, session: Db, request: Request
) -> Contact:
    """Add an escalation contact."""
    household_of(session, principal, household_id, *CARERS)
    data = body.model_dump()
    row = residents.add_contact(session, household_id, data.pop("tier"), data.pop("name"), **data)
    return commit(request, session, row)


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
def patch_contact(
    contact_id: RowId, body: ContactPatch, principal: Caller, session: Db, request: Request
) -> Contact:
    """Change a contact."""
    owned_row(session, principal, Contact, contact_id, *CARERS)
    return commit(request, session, residents.update_contact(session, contact_id, body))


@router.delete("/contacts/{contact_id}", response_model=ContactOut)
def retire_contact(contact_id: RowId, principal: Caller, session: Db, request: Request) -> Contact:
    """Remove a contact from escalation."""
    owned_row(session, principal, Contact, contact_id, *CARERS)
    return commit(request, session, residents.retire_contact(session, contact_id))


# --- bulk import ----------------------------------------------------------------------


@router.post(
    "/import",
    response_model=ImportResult,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    responses={422: {"description": "nothing imported; every bad row listed"}},
)
async def import_households(request: Request, principal: Caller) -> ImportResult:
    """Import households and devices from CSV: all rows or none, every bad row named.

    See docs/devices.md for the columns.
    """
    require(principal, *WRITERS)
    body = await request.body()  # the web app's RequestLimits stops it at the limit first
    limit = settings_of(request).registry.max_import_bytes
    if len(body) > limit:
        raise HTTPException(413, f"the CSV file is larger than {limit} bytes; split it")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("body", "the CSV is not UTF-8 text") from None
    settings = settings_of(request)

    def run() -> ImportResult:
        with registry_session(settings) as session:
            return import_csv(session, text, allowed_center=_limit_of(principal))

    return await run_in_threadpool(run)


def _limit_of(principal: Principal) -> str | None:
    return None if principal.role is Role.ADMIN else principal.care_center_id
