"""The registry's HTTP API (``/api/v1``) and its start-up and shut-down hooks.

Every endpoint needs a token. A household of another care center is answered with 404,
exactly as a household that does not exist, so staff cannot even learn that it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from anbu.health import kafka_heartbeat
from config import Settings
from devices import service
from devices.auth import Principal, Role, can_see_household, get_principal
from devices.commissioning import CheckResult, check_household
from devices.csv_import import ImportResult, import_csv
from devices.db import init_db, session_factory
from devices.exceptions import Conflict, Forbidden, ImportRejected, InvalidInput, NotFound
from devices.lookup import RegistryLookup
from devices.models import ApiToken, CareCenter, Contact, Device, Gateway, Household, Resident
from devices.schemas import (
    CenterIn,
    CenterOut,
    CenterPatch,
    ContactIn,
    ContactOut,
    ContactPatch,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    DeviceReplace,
    GatewayCredentials,
    GatewayIn,
    GatewayOut,
    GatewayPatch,
    HouseholdIn,
    HouseholdOut,
    HouseholdPatch,
    ResidentIn,
    ResidentOut,
    ResidentPatch,
    TokenCreated,
    TokenIn,
    TokenOut,
    WhoAmI,
)

log = logging.getLogger(__name__)

IMPORT_PATH = "/api/v1/import"


def body_limits(settings: Settings) -> dict[str, int]:
    """The paths taking a larger body than ``web.max_body_bytes`` (see web/app.py)."""
    return {IMPORT_PATH: settings.registry.max_import_bytes}


class RegistryRoute(APIRoute):
    """Turns the registry's exceptions into clear HTTP answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler."""
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound as exc:
                return JSONResponse({"detail": str(exc)}, status.HTTP_404_NOT_FOUND)
            except Forbidden as exc:
                return JSONResponse({"detail": str(exc)}, status.HTTP_403_FORBIDDEN)
            except Conflict as exc:
                return JSONResponse({"detail": str(exc)}, status.HTTP_409_CONFLICT)
            except ImportRejected as exc:
                return JSONResponse(
                    {
                        "detail": str(exc),
                        "errors": [
                            {"line": e.line, "field": e.field, "reason": e.reason}
                            for e in exc.errors
                        ],
                    },
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                )
            except InvalidInput as exc:
                return JSONResponse(
                    {"detail": str(exc), "field": exc.field},
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                )

        return wrapped


router = APIRouter(prefix="/api/v1", tags=["registry"], route_class=RegistryRoute)

Caller = Annotated[Principal, Depends(get_principal)]

WRITERS = (Role.ADMIN, Role.INSTALLER)
CARERS = (Role.ADMIN, Role.INSTALLER, Role.STAFF, Role.LEAD)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _engine(request: Request) -> Engine:
    engine = getattr(request.app.state, "registry_engine", None)
    if engine is None:
        engine = init_db(_settings(request))
        request.app.state.registry_engine = engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request (rolled back unless :func:`commit` ran)."""
    with session_factory(_engine(request))() as session:
        yield session


Db = Annotated[Session, Depends(get_session)]


def commit(request: Request, session: Session) -> None:
    """Commit, then publish the changes and rewrite Mosquitto's files if needed."""
    changes = service.changes_of(session)
    session.commit()
    service.apply_changes(_settings(request), changes)


def require(principal: Principal, *roles: Role) -> None:
    """Refuse a caller whose role is not among ``roles``."""
    if principal.role not in roles:
        raise Forbidden(f"a {principal.role} token may not do this / 권한이 없습니다")


def _household(session: Session, principal: Principal, household_id: str) -> Household:
    row = session.get(Household, household_id)
    if row is None or not can_see_household(principal, row.care_center_id):
        raise NotFound("household", household_id)
    return row


def _owned(session: Session, principal: Principal, model: Any, kind: str, ident: str | int) -> Any:
    """A row that belongs to a household, if the caller may see that household."""
    row = session.get(model, ident)
    if row is None:
        raise NotFound(kind, str(ident))
    _household(session, principal, row.household_id)
    return row


def _device(session: Session, principal: Principal, device_id: str) -> Device:
    device: Device = _owned(session, principal, Device, "device", device_id)
    return device


def _gateway(session: Session, principal: Principal, gateway_id: str) -> Gateway:
    gateway: Gateway = _owned(session, principal, Gateway, "gateway", gateway_id)
    return gateway


def _resident(session: Session, principal: Principal, resident_id: int) -> Resident:
    resident: Resident = _owned(session, principal, Resident, "resident", resident_id)
    return resident


def _contact(session: Session, principal: Principal, contact_id: int) -> Contact:
    contact: Contact = _owned(session, principal, Contact, "contact", contact_id)
    return contact


def _center(session: Session, principal: Principal, care_center_id: str) -> CareCenter:
    row = session.get(CareCenter, care_center_id)
    if row is None or not can_see_household(principal, care_center_id):
        raise NotFound("care center", care_center_id)
    return row


def _household_out(row: Household, principal: Principal) -> HouseholdOut:
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
            "created_at": row.created_at,
            "retired_at": row.retired_at,
        }
    )


def _given(model: Any) -> dict[str, Any]:
    """The fields the client actually sent (so ``null`` can clear and absence keeps)."""
    data: dict[str, Any] = model.model_dump(exclude_unset=True)
    return data


Limit = Annotated[int, Query(ge=1, le=1000)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


# --- who am I -------------------------------------------------------------------------


@router.get("/whoami", response_model=WhoAmI)
def whoami(principal: Caller) -> WhoAmI:
    """The token's role and care center."""
    return WhoAmI(
        token_id=principal.token_id,
        role=principal.role,
        care_center_id=principal.care_center_id,
        name=principal.name,
    )


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
    commit(request, session)
    return row


@router.get("/centers/{care_center_id}", response_model=CenterOut)
def get_center(care_center_id: str, principal: Caller, session: Db) -> CareCenter:
    """One care center."""
    return _center(session, principal, care_center_id)


@router.patch("/centers/{care_center_id}", response_model=CenterOut)
def patch_center(
    care_center_id: str, body: CenterPatch, principal: Caller, session: Db, request: Request
) -> CareCenter:
    """Change a care center (admin)."""
    _center(session, principal, care_center_id)
    require(principal, Role.ADMIN)
    row = service.update_care_center(session, care_center_id, **_given(body))
    commit(request, session)
    return row


@router.delete("/centers/{care_center_id}", response_model=CenterOut)
def retire_center(
    care_center_id: str, principal: Caller, session: Db, request: Request
) -> CareCenter:
    """Retire a care center without active households (admin)."""
    _center(session, principal, care_center_id)
    require(principal, Role.ADMIN)
    row = service.retire_care_center(session, care_center_id)
    commit(request, session)
    return row


# --- households -----------------------------------------------------------------------


@router.get("/households", response_model=list[HouseholdOut])
def list_households(
    principal: Caller,
    session: Db,
    care_center_id: Annotated[str | None, Query(max_length=64)] = None,
    dong: Annotated[str | None, Query(max_length=100)] = None,
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
    return [_household_out(r, principal) for r in rows]


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
    commit(request, session)
    return _household_out(row, principal)


@router.get("/households/{household_id}", response_model=HouseholdOut)
def get_household(household_id: str, principal: Caller, session: Db) -> HouseholdOut:
    """One household and its settings."""
    return _household_out(_household(session, principal, household_id), principal)


@router.patch("/households/{household_id}", response_model=HouseholdOut)
def patch_household(
    household_id: str, body: HouseholdPatch, principal: Caller, session: Db, request: Request
) -> HouseholdOut:
    """Change a household's settings, e.g. mark it away (admin, installer, staff)."""
    _household(session, principal, household_id)
    require(principal, *CARERS)
    changes = _given(body)
    target = changes.get("care_center_id")
    if target is not None and not can_see_household(principal, target):
        raise NotFound("care center", target)
    row = service.update_household(session, household_id, **changes)
    commit(request, session)
    return _household_out(row, principal)


@router.delete("/households/{household_id}", response_model=HouseholdOut)
def retire_household(
    household_id: str, principal: Caller, session: Db, request: Request
) -> HouseholdOut:
    """Stop watching a household; its gateways and devices are retired too."""
    _household(session, principal, household_id)
    require(principal, *WRITERS)
    row = service.retire_household(session, household_id)
    commit(request, session)
    return _household_out(row, principal)


@router.get("/households/{household_id}/check", response_model=CheckResult)
def check(household_id: str, principal: Caller, session: Db) -> CheckResult:
    """Commissioning check: each device's last report and whether it reported since install."""
    _household(session, principal, household_id)
    return check_household(session, household_id)


# --- residents and contacts -----------------------------------------------------------


@router.get("/households/{household_id}/residents", response_model=list[ResidentOut])
def list_residents(household_id: str, principal: Caller, session: Db) -> list[Resident]:
    """The household's residents (personal data; not for operators)."""
    _household(session, principal, household_id)
    require(principal, *CARERS)
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
    _household(session, principal, household_id)
    require(principal, *CARERS)
    data = body.model_dump()
    row = service.add_resident(session, household_id, data.pop("name"), **data)
    commit(request, session)
    return row


@router.patch("/residents/{resident_id}", response_model=ResidentOut)
def patch_resident(
    resident_id: RowId, body: ResidentPatch, principal: Caller, session: Db, request: Request
) -> Resident:
    """Change a resident's details."""
    _resident(session, principal, resident_id)
    require(principal, *CARERS)
    row = service.update_resident(session, resident_id, **_given(body))
    commit(request, session)
    return row


@router.delete("/residents/{resident_id}", response_model=ResidentOut)
def retire_resident(
    resident_id: RowId, principal: Caller, session: Db, request: Request
) -> Resident:
    """Mark a resident as moved out."""
    _resident(session, principal, resident_id)
    require(principal, *CARERS)
    row = service.retire_resident(session, resident_id)
    commit(request, session)
    return row


@router.get("/households/{household_id}/contacts", response_model=list[ContactOut])
def list_contacts(household_id: str, principal: Caller, session: Db) -> list[Contact]:
    """Escalation contacts by tier (personal data; not for operators)."""
    _household(session, principal, household_id)
    require(principal, *CARERS)
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
    _household(session, principal, household_id)
    require(principal, *CARERS)
    data = body.model_dump()
    row = service.add_contact(session, household_id, data.pop("tier"), data.pop("name"), **data)
    commit(request, session)
    return row


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
def patch_contact(
    contact_id: RowId, body: ContactPatch, principal: Caller, session: Db, request: Request
) -> Contact:
    """Change a contact."""
    _contact(session, principal, contact_id)
    require(principal, *CARERS)
    row = service.update_contact(session, contact_id, **_given(body))
    commit(request, session)
    return row


@router.delete("/contacts/{contact_id}", response_model=ContactOut)
def retire_contact(contact_id: RowId, principal: Caller, session: Db, request: Request) -> Contact:
    """Remove a contact from escalation."""
    _contact(session, principal, contact_id)
    require(principal, *CARERS)
    row = service.retire_contact(session, contact_id)
    commit(request, session)
    return row


# --- gateways -------------------------------------------------------------------------


def _credentials(request: Request, row: Gateway, password: str) -> GatewayCredentials:
    settings = _settings(request)
    return GatewayCredentials(
        gateway=GatewayOut.model_validate(row),
        mqtt_username=row.id,
        mqtt_password=password,
        mqtt_host=settings.registry.gateway_mqtt_host or settings.mqtt.host,
        mqtt_port=settings.registry.gateway_mqtt_port or settings.mqtt.port,
    )


@router.get("/households/{household_id}/gateways", response_model=list[GatewayOut])
def list_gateways(
    household_id: str, principal: Caller, session: Db, include_retired: bool = False
) -> list[Gateway]:
    """The household's gateways."""
    _household(session, principal, household_id)
    query = select(Gateway).where(Gateway.household_id == household_id).order_by(Gateway.id)
    if not include_retired:
        query = query.where(Gateway.retired_at.is_(None))
    return list(session.scalars(query))


@router.post(
    "/households/{household_id}/gateways", response_model=GatewayCredentials, status_code=201
)
def create_gateway(
    household_id: str, body: GatewayIn, principal: Caller, session: Db, request: Request
) -> GatewayCredentials:
    """Register a gateway; the answer holds its MQTT password, shown only this once."""
    _household(session, principal, household_id)
    require(principal, *WRITERS)
    row, password = service.create_gateway(session, household_id, **body.model_dump())
    commit(request, session)
    return _credentials(request, row, password)


@router.get("/gateways/{gateway_id}", response_model=GatewayOut)
def get_gateway(gateway_id: str, principal: Caller, session: Db) -> Gateway:
    """One gateway."""
    return _gateway(session, principal, gateway_id)


@router.patch("/gateways/{gateway_id}", response_model=GatewayOut)
def patch_gateway(
    gateway_id: str, body: GatewayPatch, principal: Caller, session: Db, request: Request
) -> Gateway:
    """Change a gateway's heartbeat interval."""
    _gateway(session, principal, gateway_id)
    require(principal, *WRITERS)
    row = service.update_gateway(session, gateway_id, **_given(body))
    commit(request, session)
    return row


@router.post("/gateways/{gateway_id}/password", response_model=GatewayCredentials)
def rotate_password(
    gateway_id: str, principal: Caller, session: Db, request: Request
) -> GatewayCredentials:
    """Give the gateway a new MQTT password (shown only this once)."""
    _gateway(session, principal, gateway_id)
    require(principal, *WRITERS)
    row, password = service.rotate_gateway_password(session, gateway_id)
    commit(request, session)
    return _credentials(request, row, password)


@router.delete("/gateways/{gateway_id}", response_model=GatewayOut)
def retire_gateway(gateway_id: str, principal: Caller, session: Db, request: Request) -> Gateway:
    """Retire a gateway; its MQTT login stops working."""
    _gateway(session, principal, gateway_id)
    require(principal, *WRITERS)
    row = service.retire_gateway(session, gateway_id)
    commit(request, session)
    return row


# --- devices --------------------------------------------------------------------------


@router.get("/households/{household_id}/devices", response_model=list[DeviceOut])
def list_devices(
    household_id: str, principal: Caller, session: Db, include_retired: bool = False
) -> list[Device]:
    """The household's devices (with ``include_retired``, the replaced ones too)."""
    _household(session, principal, household_id)
    query = select(Device).where(Device.household_id == household_id)
    if not include_retired:
        query = query.where(Device.retired_at.is_(None))
    return list(session.scalars(query.order_by(Device.installed_at, Device.id)))


@router.post("/households/{household_id}/devices", response_model=DeviceOut, status_code=201)
def add_device(
    household_id: str, body: DeviceIn, principal: Caller, session: Db, request: Request
) -> Device:
    """Register a device at its base MQTT topic."""
    _household(session, principal, household_id)
    require(principal, *WRITERS)
    data = body.model_dump()
    row = service.add_device(
        session,
        household_id,
        data.pop("kind"),
        str(data.pop("source_format")),
        data.pop("mqtt_topic"),
        **data,
    )
    commit(request, session)
    return row


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, principal: Caller, session: Db) -> Device:
    """One device."""
    return _device(session, principal, device_id)


@router.get("/devices/{device_id}/history", response_model=list[DeviceOut])
def device_history(device_id: str, principal: Caller, session: Db) -> list[Device]:
    """The devices that held this place, oldest first (replacements keep their history)."""
    _device(session, principal, device_id)
    return service.device_history(session, device_id)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def patch_device(
    device_id: str, body: DevicePatch, principal: Caller, session: Db, request: Request
) -> Device:
    """Change a device's topic, room, gateway or reporting interval."""
    _device(session, principal, device_id)
    require(principal, *WRITERS)
    row = service.update_device(session, device_id, **_given(body))
    commit(request, session)
    return row


@router.post("/devices/{device_id}/replace", response_model=DeviceOut, status_code=201)
def replace_device(
    device_id: str, body: DeviceReplace, principal: Caller, session: Db, request: Request
) -> Device:
    """Replace a device: the old one is retired and kept in the history; returns the new one."""
    _device(session, principal, device_id)
    require(principal, *WRITERS)
    data = body.model_dump(exclude_none=True)
    if "device_id" in data:
        data["new_device_id"] = data.pop("device_id")
    if "source_format" in data:
        data["source_format"] = str(data["source_format"])
    row = service.replace_device(session, device_id, **data)
    commit(request, session)
    return row


@router.delete("/devices/{device_id}", response_model=DeviceOut)
def retire_device(device_id: str, principal: Caller, session: Db, request: Request) -> Device:
    """Retire a device (it stays in the history)."""
    _device(session, principal, device_id)
    require(principal, *WRITERS)
    row = service.retire_device(session, device_id)
    commit(request, session)
    return row


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
    limit = _settings(request).registry.max_import_bytes
    if len(body) > limit:
        raise HTTPException(413, f"the CSV file is larger than {limit} bytes; split it")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("body", "the CSV is not UTF-8 text") from None
    settings = _settings(request)

    def run() -> ImportResult:
        with service.registry_session(settings) as session:
            return import_csv(session, text, allowed_center=_limit_of(principal))

    return await run_in_threadpool(run)


def _limit_of(principal: Principal) -> str | None:
    return None if principal.role is Role.ADMIN else principal.care_center_id


# --- tokens ---------------------------------------------------------------------------


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(principal: Caller, session: Db) -> list[ApiToken]:
    """All tokens (admin); never the tokens themselves."""
    require(principal, Role.ADMIN)
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)))


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, principal: Caller, session: Db, request: Request) -> TokenCreated:
    """Create a token (admin); the answer holds the token, shown only this once."""
    require(principal, Role.ADMIN)
    row, token = service.create_token(
        session, body.role, name=body.name, care_center_id=body.care_center_id
    )
    commit(request, session)
    return TokenCreated(token=token, info=TokenOut.model_validate(row))


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, principal: Caller, session: Db, request: Request) -> ApiToken:
    """Revoke a token (admin)."""
    require(principal, Role.ADMIN)
    if token_id == service.ADMIN_TOKEN_ID:
        raise Conflict("the bootstrap admin token is set in the settings (registry.admin_token)")
    row = service.revoke_token(session, token_id)
    commit(request, session)
    return row


# --- start-up and shut-down -----------------------------------------------------------


async def startup(app: FastAPI, settings: Settings) -> None:
    """Prepare the registry for the web process.

    Migrates, ensures the admin token and rewrites Mosquitto's files; then, in the
    background, republishes the registry to Kafka (now and every
    ``registry.snapshot_interval``) and learns devices' last reports from ``anbu.events``.
    """
    from devices.last_seen import LastSeenConsumer
    from devices.mqtt_accounts import sync_mosquitto

    engine = await asyncio.to_thread(init_db, settings)
    app.state.registry_engine = engine
    app.state.registry_lookup = RegistryLookup(engine)

    def prepare() -> None:
        with session_factory(engine)() as session:
            service.ensure_admin_token(session, settings.admin_token())
            session.commit()
        sync_mosquitto(settings, engine)

    await asyncio.to_thread(prepare)
    consumer = LastSeenConsumer(settings, engine)
    app.state.registry_last_seen = consumer
    app.state.registry_heartbeat = kafka_heartbeat(settings, "web")
    app.state.registry_tasks = [
        asyncio.create_task(_snapshot_loop(settings, engine), name="registry-snapshot"),
        asyncio.create_task(consumer.run(), name="registry-last-seen"),
        asyncio.create_task(_mqtt_watch_loop(settings, engine), name="registry-mqtt-watch"),
    ]


MQTT_WATCH_S = 30.0
REGISTRY_CHECK_S = 2.0
"""How often the web process checks that Kafka still has the registry topic."""


async def _mqtt_watch_loop(settings: Settings, engine: Engine) -> None:
    """Restore the gateways' MQTT accounts if Mosquitto's files were rewritten by others."""
    from devices.mqtt_accounts import accounts_current, sync_mosquitto

    while True:
        await asyncio.sleep(MQTT_WATCH_S)
        try:
            if not await asyncio.to_thread(accounts_current, settings, engine):
                log.warning("Mosquitto's accounts differ from the registry; rewriting them")
                await asyncio.to_thread(sync_mosquitto, settings, engine)
        except Exception as exc:  # noqa: BLE001 - keep watching; the next round retries
            log.warning("could not check Mosquitto's accounts (%s)", type(exc).__name__)


async def _snapshot_loop(settings: Settings, engine: Engine) -> None:
    from devices.publisher import publish_snapshot, registry_lost, snapshot_wanted

    loop = asyncio.get_running_loop()
    delay = 1.0
    while True:
        try:
            count = await asyncio.to_thread(publish_snapshot, settings, engine)
        except Exception as exc:  # noqa: BLE001 - Kafka down: retry, never crash the web
            log.warning("registry snapshot not published (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
            continue
        log.info("registry snapshot published: %d records", count)
        delay = 1.0
        due = loop.time() + settings.registry.snapshot_interval.total_seconds()
        # A broker that lost the registry (restarted without its data) gets it back at
        # once: the bridge would otherwise dead-letter every device as unregistered.
        await asyncio.to_thread(registry_lost, settings)  # the ends just after publishing
        while loop.time() < due and not snapshot_wanted():
            await asyncio.sleep(min(REGISTRY_CHECK_S, max(0.0, due - loop.time())))
            if await asyncio.to_thread(registry_lost, settings):
                break


async def shutdown(app: FastAPI) -> None:
    """Stop the background tasks and flush the Kafka producer."""
    from devices.publisher import close_producers

    heartbeat = getattr(app.state, "registry_heartbeat", None)
    if heartbeat is not None:
        heartbeat.stop()
    for task in getattr(app.state, "registry_tasks", []):
        task.cancel()
    for task in getattr(app.state, "registry_tasks", []):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await asyncio.to_thread(close_producers)
