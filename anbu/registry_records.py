"""What the registry publishes on the compacted ``anbu.registry`` topic.

The bridge and the detectors read these to know which topic belongs to which household
and device, and each household's settings. Only pseudonymous ids and settings travel here:
names, addresses and phone numbers stay in the registry's database.

Record key: ``"<type>:<id>"`` (``household:hh-0001``, ``device:dev-0042``,
``gateway:gw-0007``, ``center:cc-01``). A retired or deleted entity is published with
``retired=True`` (and a tombstone, value ``None``, may follow for compaction).
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from anbu.call_schedule import CheckinScheduleText
from anbu.events import SCHEMA_VERSION, SourceFormat, UtcDatetime


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    retired: bool = False

    def to_json(self) -> bytes:
        """Serialise to compact JSON bytes for Kafka."""
        return self.model_dump_json(exclude_none=True).encode()


class AwayPeriod(BaseModel):
    """A registered absence (hospital stay, visit to family): alerts muted, return expected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: UtcDatetime
    end: UtcDatetime
    note: str | None = None


class QuietHours(BaseModel):
    """Local (Asia/Seoul) hours in which silence is expected, e.g. 22:00-06:00."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time


class CareCenterRecord(_Record):
    """A care center and the dongs it covers."""

    type: Literal["center"] = "center"
    care_center_id: str
    dongs: list[str] = Field(default_factory=list)


class HouseholdRecord(_Record):
    """A watched household's settings.

    Attributes:
        household_id: pseudonymous id.
        care_center_id: the center responsible for it.
        dong: administrative neighbourhood, for dashboards.
        inactivity_hours: the fixed rule's N.
        routine_enabled: use the routine-aware detector once it has learned enough.
        quiet_hours: when silence is expected (sleep).
        away_periods: registered absences.
        escalation_delays_s: seconds to wait at each contact tier before the next.
        checkin_enabled: ask the care robot "are you all right?" before escalating.
        checkin_schedule: when the voice bot calls the resident to ask after them
            (``mon-fri 10:00``, Asia/Seoul; :mod:`anbu.call_schedule`); None: no such calls.
        tiers: how many contact tiers exist (details stay in the registry).
    """

    type: Literal["household"] = "household"
    household_id: str
    care_center_id: str
    dong: str
    inactivity_hours: float = 24.0
    routine_enabled: bool = True
    quiet_hours: QuietHours | None = None
    away_periods: list[AwayPeriod] = Field(default_factory=list)
    escalation_delays_s: list[int] = Field(default_factory=lambda: [900, 900, 1800])
    checkin_enabled: bool = True
    checkin_schedule: CheckinScheduleText | None = None
    tiers: int = 3


DeviceKindName = Literal[
    "motion", "door", "contact", "presence", "plug", "button", "robot", "gateway", "other"
]


class DeviceRecord(_Record):
    """A sensor, plug, button or robot in a household.

    Attributes:
        mqtt_topic: the device's base topic as it publishes (``zigbee2mqtt/hh1_kitchen``,
            ``tele/tasmota_5D3A1C``, ``shellies/shellyplug-s-1A2B3C``, ``shellyplus1pm-a8b1``,
            ``anbu/gw-0007/robot``). The bridge maps a message to the registered device whose
            base topic is the longest prefix of the message topic on level boundaries.
        reporting_interval_s: the longest the device may stay silent when healthy.
    """

    type: Literal["device"] = "device"
    device_id: str
    household_id: str
    gateway_id: str | None = None
    kind: DeviceKindName
    source_format: SourceFormat
    mqtt_topic: str
    room: str | None = None
    reporting_interval_s: int = 3600
    installed_at: UtcDatetime | None = None
    retired_at: UtcDatetime | None = None
    replaces: str | None = None


class GatewayRecord(_Record):
    """A home gateway: forwards its devices' messages and sends heartbeats."""

    type: Literal["gateway"] = "gateway"
    gateway_id: str
    household_id: str
    mqtt_username: str
    heartbeat_interval_s: int = 60


RegistryRecord = Annotated[
    CareCenterRecord | HouseholdRecord | DeviceRecord | GatewayRecord,
    Field(discriminator="type"),
]

registry_record_adapter: TypeAdapter[RegistryRecord] = TypeAdapter(RegistryRecord)


def parse_registry_record(data: bytes | str) -> RegistryRecord:
    """Parse one record value (raises pydantic's ValidationError)."""
    return registry_record_adapter.validate_json(data)


def record_key(record: RegistryRecord) -> bytes:
    """The compaction key of a record."""
    ident = {
        "center": getattr(record, "care_center_id", ""),
        "household": getattr(record, "household_id", ""),
        "device": getattr(record, "device_id", ""),
        "gateway": getattr(record, "gateway_id", ""),
    }[record.type]
    return f"{record.type}:{ident}".encode()
