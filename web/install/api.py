"""The installer app's JSON actions, ``/install/api/...``, called by its page with the session.

Only installers and admins may use them (others: 403); a household, gateway or device of
another care center is answered 404, as one that does not exist. The answers carry what an
installer needs on site (ids, dong, kinds, rooms, topics, report times) and never residents'
names, phones or addresses. The work is done by the registry's own service functions
(:mod:`devices.service`), and the live check is the registry's commissioning check
(:func:`devices.commissioning.check_household`), which reads the last-seen times the web
process learns from ``anbu.events`` (:mod:`devices.last_seen`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from starlette.routing import Match

from anbu.events import SourceFormat
from anbu.registry_records import DeviceKindName
from config import Settings
from devices import equipment, service
from devices.auth import get_principal, lookup_of
from devices.changes import changes_of
from devices.commissioning import CheckResult, check_household
from devices.exceptions import Conflict, InvalidInput, NotFound, RegistryError
from devices.models import CareCenter, Device, Gateway, Household
from devices.principals import Principal, Role, can_see_household
from devices.schemas import DevicePatch, Ident, OptShort, ShortText, Topic
from devices.unit_of_work import apply_changes
from web.install.gateway_login import GatewayLogin, gateway_login

router = APIRouter(prefix="/install/api", tags=["installer app"])

DeviceOrGateway = TypeVar("DeviceOrGateway", Device, Gateway)

INSTALLERS = frozenset({Role.INSTALLER, Role.ADMIN})
SEARCH_LIMIT = 20


def installer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """FastAPI dependency: the signed-in installer or admin; 403 for any other role."""
    if principal.role not in INSTALLERS:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "only installers and administrators may do this / 설치 기사와 관리자만 할 수 있습니다",
        )
    return principal


def _session(request: Request) -> Iterator[Session]:
    with Session(lookup_of(request).engine) as session:
        yield session


Installer = Annotated[Principal, Depends(installer)]
Db = Annotated[Session, Depends(_session)]


@contextmanager
def _answered() -> Iterator[None]:
    """The registry's refusals as HTTP answers naming what was wrong."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except InvalidInput as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", exc.field], "msg": exc.reason, "type": "value_error"}],
        ) from None
    except RegistryError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _save(request: Request, session: Session) -> None:
    """Commit, then publish the changes to Kafka and rewrite Mosquitto's accounts."""
    settings: Settings = request.app.state.settings
    changes = changes_of(session)
    session.commit()
    apply_changes(settings, changes)


def _not_found(kind: str, ident: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {ident!r} not found")


def _household(session: Session, principal: Principal, household_id: str) -> Household:
    row = session.get(Household, household_id)
    if row is None or row.retired_at is not None or not can_see_household(
        principal, row.care_center_id
    ):
        raise _not_found("household", household_id)
    return row


def _owned(
    session: Session, principal: Principal, model: type[DeviceOrGateway], ident: str
) -> DeviceOrGateway:
    """A device or gateway of a household the installer may work on, or 404."""
    row = session.get(model, ident)
    if row is None:
        raise _not_found(model.__name__.lower(), ident)
    _household(session, principal, row.household_id)
    return row


def default_topic(source_format: str, device_id: str, gateway_id: str | None) -> str:
    """The base topic a device of ``source_format`` publishes at out of the box.

    Zigbee2MQTT names a device by its IEEE address (the id on its label) until renamed;
    Tasmota and Shelly Gen1 use their own topic/id; anbu devices publish under their gateway.
    """
    if source_format == SourceFormat.TASMOTA:
        return f"tele/{device_id}"
    if source_format == SourceFormat.SHELLY:
        return f"shellies/{device_id}"
    if source_format == SourceFormat.ANBU:
        return f"anbu/{gateway_id}/{device_id}" if gateway_id else f"anbu/{device_id}"
    return f"zigbee2mqtt/{device_id}"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class HouseholdNew(_In):
    """A household to register: its care center (default: the installer's) and dong."""

    care_center_id: Ident | None = None
    dong: ShortText


class HouseholdSummary(BaseModel):
    """A household as the installer sees it: no names, phones or address."""

    id: str
    care_center_id: str
    dong: str
    gateways: int
    devices: int
    created_at: datetime


class GatewayNew(_In):
    """A gateway to register; ``gateway_id`` from its label, or unset for a random one."""

    gateway_id: Ident | None = None


class DeviceNew(_In):
    """A device to add, by the id on its label (typed or scanned)."""

    device_id: Ident
    kind: DeviceKindName
    room: OptShort = None
    source_format: SourceFormat = SourceFormat.ZIGBEE2MQTT
    gateway_id: Ident | None = None
    mqtt_topic: Topic | None = None


class DeviceSwap(_In):
    """The device that takes an old one's place (same room and kind unless given)."""

    device_id: Ident
    kind: DeviceKindName | None = None
    room: OptShort = None


class DeviceSummary(BaseModel):
    """A device as registered."""

    id: str
    household_id: str
    gateway_id: str | None
    kind: str
    source_format: str
    mqtt_topic: str
    room: str | None
    installed_at: datetime
    retired_at: datetime | None
    replaces: str | None
    replaced_by: str | None


def _summaries(session: Session, rows: list[Household]) -> list[HouseholdSummary]:
    ids = [r.id for r in rows]

    def counts(model: type[Device] | type[Gateway]) -> dict[str, int]:
        query = (
            select(model.household_id, func.count())
            .where(model.household_id.in_(ids), model.retired_at.is_(None))
            .group_by(model.household_id)
        )
        return {hh: n for hh, n in session.execute(query)}

    gateways, devices = counts(Gateway), counts(Device)
    return [
        HouseholdSummary(id=r.id, care_center_id=r.care_center_id, dong=r.dong,
                         gateways=gateways.get(r.id, 0), devices=devices.get(r.id, 0),
                         created_at=r.created_at)
        for r in rows
    ]


@router.get("/households", response_model=list[HouseholdSummary])
def find_households(
    principal: Installer,
    session: Db,
    q: Annotated[str, Query(max_length=100)] = "",
) -> list[HouseholdSummary]:
    """Active households of the installer's center whose id or dong contains ``q``.

    Without ``q``, the most recently registered ones.
    """
    query = select(Household).where(Household.retired_at.is_(None))
    if principal.care_center_id is not None:
        query = query.where(Household.care_center_id == principal.care_center_id)
    text = q.strip()
    if text:
        query = query.where(or_(Household.id.contains(text, autoescape=True),
                                Household.dong.contains(text, autoescape=True)))
    rows = list(session.scalars(
        query.order_by(Household.created_at.desc(), Household.id).limit(SEARCH_LIMIT)))
    return _summaries(session, rows)


@router.post("/households", response_model=HouseholdSummary, status_code=201)
def create_household(
    body: HouseholdNew, principal: Installer, session: Db, request: Request
) -> HouseholdSummary:
    """Register a household in one of the center's dongs (a random pseudonymous id)."""
    center_id = body.care_center_id or principal.care_center_id
    if center_id is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "care_center_id"], "msg": "choose the care center / 센터를 고르세요",
              "type": "missing"}],
        )
    center = session.get(CareCenter, center_id)
    if center is None or center.retired_at is not None or not can_see_household(
        principal, center_id
    ):
        raise _not_found("care center", center_id)
    if center.dongs and body.dong not in center.dongs:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "dong"], "type": "value_error",
              "msg": f"{body.dong!r} is not a dong of {center_id} ({', '.join(center.dongs)}) "
                     f"/ 센터 담당 동이 아닙니다"}],
        )
    with _answered():
        row = service.create_household(session, center_id, body.dong)
        _save(request, session)
    return _summaries(session, [row])[0]


@router.get("/households/{household_id}/check", response_model=CheckResult)
def check(household_id: str, principal: Installer, session: Db) -> CheckResult:
    """The live commissioning check: each device's and gateway's first report since install."""
    _household(session, principal, household_id)
    with _answered():
        return check_household(session, household_id)


@router.post("/households/{household_id}/gateways", response_model=GatewayLogin,
             status_code=201)
def register_gateway(
    household_id: str, body: GatewayNew, principal: Installer, session: Db, request: Request
) -> GatewayLogin:
    """Register a gateway; the answer holds its MQTT login and QR code, shown this once."""
    _household(session, principal, household_id)
    with _answered():
        row, password = equipment.create_gateway(session, household_id, gateway_id=body.gateway_id)
        _save(request, session)
    return gateway_login(request.app.state.settings, row.id, password)


@router.post("/gateways/{gateway_id}/password", response_model=GatewayLogin)
def new_gateway_password(
    gateway_id: str, principal: Installer, session: Db, request: Request
) -> GatewayLogin:
    """A new MQTT password for a gateway whose login was lost (the old one stops working)."""
    _owned(session, principal, Gateway, gateway_id)
    with _answered():
        row, password = equipment.rotate_gateway_password(session, gateway_id)
        _save(request, session)
    return gateway_login(request.app.state.settings, row.id, password)


def _only_gateway(session: Session, household_id: str) -> str | None:
    found = list(session.scalars(select(Gateway.id).where(
        Gateway.household_id == household_id, Gateway.retired_at.is_(None)).limit(2)))
    return found[0] if len(found) == 1 else None


class GatewaySummary(BaseModel):
    """A retired gateway, and where its devices went."""

    id: str
    household_id: str
    retired_at: datetime | None
    devices_moved_to: str | None


@router.delete("/gateways/{gateway_id}", response_model=GatewaySummary)
def retire_gateway(
    gateway_id: str, principal: Installer, session: Db, request: Request
) -> GatewaySummary:
    """Retire a gateway taken out of the home (or broken): its MQTT login stops working.

    Its devices are handed to the home's one remaining gateway, or left untied when there
    are none or several, so that the gateway put in its place may publish for them (a
    device tied to a retired gateway could be published for by none).
    """
    row = _owned(session, principal, Gateway, gateway_id)
    if row.retired_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"gateway {gateway_id!r} is retired already")
    with _answered():
        equipment.retire_gateway(session, gateway_id)
        heir = _only_gateway(session, row.household_id)
        tied = session.scalars(select(Device.id).where(
            Device.gateway_id == gateway_id, Device.retired_at.is_(None))).all()
        for device_id in tied:
            equipment.update_device(session, device_id, DevicePatch(gateway_id=heir))
        _save(request, session)
    return GatewaySummary(id=row.id, household_id=row.household_id, retired_at=row.retired_at,
                          devices_moved_to=heir)


@router.post("/households/{household_id}/devices", response_model=DeviceSummary,
             status_code=201)
def add_device(
    household_id: str, body: DeviceNew, principal: Installer, session: Db, request: Request
) -> Device:
    """Add a device by its label id; its topic is the format's default unless given.

    A home with one gateway gets the device tied to it (the gateway's MQTT login may then
    publish for it).
    """
    _household(session, principal, household_id)
    gateway_id = body.gateway_id or _only_gateway(session, household_id)
    topic = body.mqtt_topic or default_topic(body.source_format, body.device_id, gateway_id)
    with _answered():
        row = equipment.add_device(session, household_id, body.kind, str(body.source_format),
                                 topic, device_id=body.device_id, gateway_id=gateway_id,
                                 room=body.room or None)
        _save(request, session)
    return row


@router.post("/devices/{device_id}/replace", response_model=DeviceSummary, status_code=201)
def replace_device(
    device_id: str, body: DeviceSwap, principal: Installer, session: Db, request: Request
) -> Device:
    """Swap a device for a new one in the same place; the old one stays in the history.

    A topic made from the old id (Zigbee2MQTT's default name) is made from the new id.
    """
    old = _owned(session, principal, Device, device_id)
    topic = None
    if old.mqtt_topic == default_topic(old.source_format, old.id, old.gateway_id):
        topic = default_topic(old.source_format, body.device_id, old.gateway_id)
    with _answered():
        row = equipment.replace_device(session, device_id, new_device_id=body.device_id,
                                     kind=body.kind, room=body.room or None, mqtt_topic=topic)
        _save(request, session)
    return row


@router.delete("/devices/{device_id}", response_model=DeviceSummary)
def retire_device(device_id: str, principal: Installer, session: Db, request: Request) -> Device:
    """Retire a device taken out of the home (it stays in the history)."""
    _owned(session, principal, Device, device_id)
    with _answered():
        row = equipment.retire_device(session, device_id)
        _save(request, session)
    return row


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
def unknown(path: str, request: Request) -> None:
    """Any other path under ``/install/api``: a JSON 404 naming it.

    Declared last, so it answers only what no action above matched; a known path called
    with another method still gets its 405, as without this route.
    """
    allowed = {
        method
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint is not unknown
        and route.matches(request.scope)[0] is Match.PARTIAL
        for method in route.methods or ()
    }
    if allowed:
        raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED, "Method Not Allowed",
                            headers={"Allow": ", ".join(sorted(allowed))})
    raise HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no installer action at /install/api/{path} / 설치 앱에 이런 기능이 없습니다",
    )
