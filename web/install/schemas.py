"""What the installer app's JSON actions take and answer (:mod:`web.install.api`).

The answers carry what an installer needs on site and never residents' names, phones or
addresses.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from anbu.events import SourceFormat
from anbu.registry_records import DeviceKindName
from devices.schemas import DeviceRegistered, Ident, OptShort, ShortText, Topic


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


class DeviceSummary(DeviceRegistered):
    """A device as registered."""


class GatewaySummary(BaseModel):
    """A retired gateway, and where its devices went."""

    id: str
    household_id: str
    retired_at: datetime | None
    devices_moved_to: str | None
