"""The installer app's JSON actions, ``/install/api/...``, called by its page with the session.

Only installers and admins may use them (others: 403); a household, gateway or device of
another care center is answered 404, as one that does not exist. The answers carry what an
installer needs on site (ids, dong, kinds, rooms, topics, report times) and never residents'
names, phones or addresses. The work is done by the registry's own service functions
(:mod:`devices.service`), and the live check is the registry's commissioning check
(:func:`devices.commissioning.check_household`), which reads the last-seen times the web
process learns from ``anbu.events`` (:mod:`devices.last_seen`). What the actions share is in
:mod:`web.install.deps`, what they take and answer in :mod:`web.install.schemas`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.routing import APIRoute
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.routing import Match

from devices import equipment, service
from devices.commissioning import CheckResult, check_household
from devices.models import CareCenter, Device, Gateway, Household
from devices.principals import can_see_household
from devices.schemas import DevicePatch
from web.install.deps import (
    INSTALLERS,
    Db,
    DeviceOrGateway,
    Installer,
    answered,
    default_topic,
    household_or_404,
    installer,
    not_found,
    only_gateway,
    owned_or_404,
    save,
    summaries,
)
from web.install.gateway_login import GatewayLogin, gateway_login
from web.install.schemas import (
    DeviceNew,
    DeviceSummary,
    DeviceSwap,
    GatewayNew,
    GatewaySummary,
    HouseholdNew,
    HouseholdSummary,
)

__all__ = [
    "INSTALLERS", "SEARCH_LIMIT", "Db", "DeviceNew", "DeviceOrGateway", "DeviceSummary",
    "DeviceSwap", "GatewayNew", "GatewaySummary", "HouseholdNew", "HouseholdSummary",
    "Installer", "default_topic", "installer", "router",
]

router = APIRouter(prefix="/install/api", tags=["installer app"])

SEARCH_LIMIT = 20


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
    return summaries(session, rows)


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
        raise not_found("care center", center_id)
    if center.dongs and body.dong not in center.dongs:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "dong"], "type": "value_error",
              "msg": f"{body.dong!r} is not a dong of {center_id} ({', '.join(center.dongs)}) "
                     f"/ 센터 담당 동이 아닙니다"}],
        )
    with answered():
        row = service.create_household(session, center_id, body.dong)
        save(request, session)
    return summaries(session, [row])[0]


@router.get("/households/{household_id}/check", response_model=CheckResult)
def check(household_id: str, principal: Installer, session: Db) -> CheckResult:
    """The live commissioning check: each device's and gateway's first report since install."""
    household_or_404(session, principal, household_id)
    with answered():
        return check_household(session, household_id)


def _saved_login(request: Request, session: Session, row: Gateway, password: str) -> GatewayLogin:
    """Save the session; then the gateway's MQTT login and QR code, shown this once."""
    save(request, session)
    return gateway_login(request.app.state.settings, row.id, password)


@router.post("/households/{household_id}/gateways", response_model=GatewayLogin,
             status_code=201)
def register_gateway(
    household_id: str, body: GatewayNew, principal: Installer, session: Db, request: Request
) -> GatewayLogin:
    """Register a gateway; the answer holds its MQTT login and QR code, shown this once."""
    household_or_404(session, principal, household_id)
    with answered():
        made = equipment.create_gateway(session, household_id, gateway_id=body.gateway_id)
        return _saved_login(request, session, *made)


@router.post("/gateways/{gateway_id}/password", response_model=GatewayLogin)
def new_gateway_password(
    gateway_id: str, principal: Installer, session: Db, request: Request
) -> GatewayLogin:
    """A new MQTT password for a gateway whose login was lost (the old one stops working)."""
    owned_or_404(session, principal, Gateway, gateway_id)
    with answered():
        made = equipment.rotate_gateway_password(session, gateway_id)
        return _saved_login(request, session, *made)



@router.delete("/gateways/{gateway_id}", response_model=GatewaySummary)
def retire_gateway(
    gateway_id: str, principal: Installer, session: Db, request: Request
) -> GatewaySummary:
    """Retire a gateway taken out of the home (or broken): its MQTT login stops working.

    Its devices are handed to the home's one remaining gateway, or left untied when there
    are none or several, so that the gateway put in its place may publish for them (a
    device tied to a retired gateway could be published for by none).
    """
    row = owned_or_404(session, principal, Gateway, gateway_id)
    if row.retired_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"gateway {gateway_id!r} is retired already")
    with answered():
        equipment.retire_gateway(session, gateway_id)
        heir = only_gateway(session, row.household_id)
        tied = session.scalars(select(Device.id).where(
            Device.gateway_id == gateway_id, Device.retired_at.is_(None))).all()
        for device_id in tied:
            equipment.update_device(session, device_id, DevicePatch(gateway_id=heir))
        save(request, session)
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
    household_or_404(session, principal, household_id)
    gateway_id = body.gateway_id or only_gateway(session, household_id)
    topic = body.mqtt_topic or default_topic(body.source_format, body.device_id, gateway_id)
    with answered():
        row = equipment.add_device(session, household_id, body.kind, str(body.source_format),
                                 topic, device_id=body.device_id, gateway_id=gateway_id,
                                 room=body.room or None)
        save(request, session)
    return row


@router.post("/devices/{device_id}/replace", response_model=DeviceSummary, status_code=201)
def replace_device(
    device_id: str, body: DeviceSwap, principal: Installer, session: Db, request: Request
) -> Device:
    """Swap a device for a new one in the same place; the old one stays in the history.

    A topic made from the old id (Zigbee2MQTT's default name) is made from the new id.
    """
    old = owned_or_404(session, principal, Device, device_id)
    topic = None
    if old.mqtt_topic == default_topic(old.source_format, old.id, old.gateway_id):
        topic = default_topic(old.source_format, body.device_id, old.gateway_id)
    with answered():
        row = equipment.replace_device(session, device_id, new_device_id=body.device_id,
                                     kind=body.kind, room=body.room or None, mqtt_topic=topic)
        save(request, session)
    return row


@router.delete("/devices/{device_id}", response_model=DeviceSummary)
def retire_device(device_id: str, principal: Installer, session: Db, request: Request) -> Device:
    """Retire a device taken out of the home (it stays in the history)."""
    owned_or_404(session, principal, Device, device_id)
    with answered():
        row = equipment.retire_device(session, device_id)
        save(request, session)
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
