"""Routes for gateways and devices: register, change, replace, rotate, retire."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from anbu.http_errors import ErrorRoute
from devices import equipment
from devices.api_deps import (
    WRITERS,
    Caller,
    Db,
    commit,
    household_of,
    owned_row,
    settings_of,
)
from devices.models import Device, Gateway
from devices.schemas import (
    DeviceIn,
    DeviceOut,
    DevicePatch,
    DeviceReplace,
    GatewayCredentials,
    GatewayIn,
    GatewayOut,
    GatewayPatch,
)

router = APIRouter(prefix="/api/v1", tags=["registry"], route_class=ErrorRoute)


# --- gateways -------------------------------------------------------------------------


def _credentials(request: Request, row: Gateway, password: str) -> GatewayCredentials:
    settings = settings_of(request)
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
    household_of(session, principal, household_id)
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
    household_of(session, principal, household_id, *WRITERS)
    created = equipment.create_gateway(session, household_id, **body.model_dump())
    return _credentials(request, *commit(request, session, created))


@router.get("/gateways/{gateway_id}", response_model=GatewayOut)
def get_gateway(gateway_id: str, principal: Caller, session: Db) -> Gateway:
    """One gateway."""
    return owned_row(session, principal, Gateway, gateway_id)


@router.patch("/gateways/{gateway_id}", response_model=GatewayOut)
def patch_gateway(
    gateway_id: str, body: GatewayPatch, principal: Caller, session: Db, request: Request
) -> Gateway:
    """Change a gateway's heartbeat interval."""
    owned_row(session, principal, Gateway, gateway_id, *WRITERS)
    return commit(request, session, equipment.update_gateway(session, gateway_id, body))


@router.post("/gateways/{gateway_id}/password", response_model=GatewayCredentials)
def rotate_password(
    gateway_id: str, principal: Caller, session: Db, request: Request
) -> GatewayCredentials:
    """Give the gateway a new MQTT password (shown only this once)."""
    owned_row(session, principal, Gateway, gateway_id, *WRITERS)
    row, password = commit(request, session, equipment.rotate_gateway_password(session, gateway_id))
    return _credentials(request, row, password)


@router.delete("/gateways/{gateway_id}", response_model=GatewayOut)
def retire_gateway(gateway_id: str, principal: Caller, session: Db, request: Request) -> Gateway:
    """Retire a gateway; its MQTT login stops working."""
    owned_row(session, principal, Gateway, gateway_id, *WRITERS)
    return commit(request, session, equipment.retire_gateway(session, gateway_id))


# --- devices --------------------------------------------------------------------------


@router.get("/households/{household_id}/devices", response_model=list[DeviceOut])
def list_devices(
    household_id: str, principal: Caller, session: Db, include_retired: bool = False
) -> list[Device]:
    """The household's devices (with ``include_retired``, the replaced ones too)."""
    household_of(session, principal, household_id)
    query = select(Device).where(Device.household_id == household_id)
    if not include_retired:
        query = query.where(Device.retired_at.is_(None))
    return list(session.scalars(query.order_by(Device.installed_at, Device.id)))


@router.post("/households/{household_id}/devices", response_model=DeviceOut, status_code=201)
def add_device(
    household_id: str, body: DeviceIn, principal: Caller, session: Db, request: Request
) -> Device:
    """Register a device at its base MQTT topic."""
    household_of(session, principal, household_id, *WRITERS)
    data = body.model_dump()
    row = equipment.add_device(
        session,
        household_id,
        data.pop("kind"),
        str(data.pop("source_format")),
        data.pop("mqtt_topic"),
        **data,
    )
    return commit(request, session, row)


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, principal: Caller, session: Db) -> Device:
    """One device."""
    return owned_row(session, principal, Device, device_id)


@router.get("/devices/{device_id}/history", response_model=list[DeviceOut])
def device_history(device_id: str, principal: Caller, session: Db) -> list[Device]:
    """The devices that held this place, oldest first (replacements keep their history)."""
    owned_row(session, principal, Device, device_id)
    return equipment.device_history(session, device_id)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def patch_device(
    device_id: str, body: DevicePatch, principal: Caller, session: Db, request: Request
) -> Device:
    """Change a device's topic, room, gateway or reporting interval."""
    owned_row(session, principal, Device, device_id, *WRITERS)
    return commit(request, session, equipment.update_device(session, device_id, body))


@router.post("/devices/{device_id}/replace", response_model=DeviceOut, status_code=201)
def replace_device(
    device_id: str, body: DeviceReplace, principal: Caller, session: Db, request: Request
) -> Device:
    """Replace a device: the old one is retired and kept in the history; returns the new one."""
    owned_row(session, principal, Device, device_id, *WRITERS)
    data = body.model_dump(exclude_none=True)
    if "device_id" in data:
        data["new_device_id"] = data.pop("device_id")
    if "source_format" in data:
        data["source_format"] = str(data["source_format"])
    return commit(request, session, equipment.replace_device(session, device_id, **data))


@router.delete("/devices/{device_id}", response_model=DeviceOut)
def retire_device(device_id: str, principal: Caller, session: Db, request: Request) -> Device:
    """Retire a device (it stays in the history)."""
    owned_row(session, principal, Device, device_id, *WRITERS)
    return commit(request, session, equipment.retire_device(session, device_id))
