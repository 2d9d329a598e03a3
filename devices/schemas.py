"""Request and response bodies of the registry's HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from anbu.call_schedule import CheckinScheduleText
from anbu.events import SourceFormat, UtcDatetime
from anbu.registry_records import AwayPeriod, DeviceKindName, QuietHours
from devices.principals import Role
from devices.rules import (
    ID_MAX,
    ID_PATTERN,
    SHORT_MAX,
    TEXT_MAX,
    EscalationDelays,
    HeartbeatInterval,
    InactivityHours,
    ReportingInterval,
    Tier,
)


def _utf8(value: str) -> str:
    """Refuse text that cannot be stored (lone surrogates from JSON escapes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


Utf8 = AfterValidator(_utf8)

Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=ID_MAX)]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX), Utf8
]
OptText = Annotated[str, StringConstraints(max_length=TEXT_MAX), Utf8] | None
# what the database's 100-character columns hold (dong, room, relation)
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SHORT_MAX), Utf8
]
OptShort = Annotated[str, StringConstraints(max_length=SHORT_MAX), Utf8] | None
LongText = Annotated[str, StringConstraints(max_length=2000), Utf8] | None
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{3,30}$")] | None
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200), Utf8] | None
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=500), Utf8] | None
Topic = Annotated[str, StringConstraints(min_length=1, max_length=200), Utf8]


class _In(BaseModel):
    # allow_inf_nan: JSON's 1e999 reads as infinity and Python's json takes NaN/Infinity
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CenterIn(_In):
    """A new care center."""

    care_center_id: Ident
    name: Text
    dongs: list[Text] = Field(default_factory=list, max_length=200)
    duty_phone: Phone = None
    email: Email = None
    webhook_url: Url = None


class CenterPatch(_In):
    """Changes to a care center (only the fields given)."""

    name: Text | None = None
    dongs: list[Text] | None = Field(default=None, max_length=200)
    duty_phone: Phone = None
    email: Email = None
    webhook_url: Url = None


class CenterOut(_Out):
    """A care center."""

    id: str
    name: str
    dongs: list[str]
    duty_phone: str | None
    email: str | None
    webhook_url: str | None
    created_at: datetime
    retired_at: datetime | None


class HouseholdSettingsIn(_In):
    """A household's settings (all optional on update)."""

    inactivity_hours: InactivityHours | None = None
    routine_enabled: bool | None = None
    quiet_hours: QuietHours | None = None
    away_periods: list[AwayPeriod] | None = Field(default=None, max_length=100)
    escalation_delays_s: EscalationDelays | None = None
    checkin_enabled: bool | None = None
    checkin_schedule: CheckinScheduleText | None = Field(
        default=None,
        description="When the voice bot calls the resident (Asia/Seoul), e.g. 'mon-fri 10:00'; "
        "null: no scheduled calls.",
    )


class HouseholdIn(HouseholdSettingsIn):
    """A new household. ``household_id`` unset: a random pseudonymous id is made."""

    household_id: Ident | None = None
    care_center_id: Ident
    dong: ShortText
    address: OptText = None
    notes: LongText = None


class HouseholdPatch(HouseholdSettingsIn):
    """Changes to a household (only the fields given)."""

    care_center_id: Ident | None = None
    dong: ShortText | None = None
    address: OptText = None
    notes: LongText = None


class HouseholdOut(_Out):
    """A household and its settings (``address``/``notes`` hidden from operators)."""

    id: str
    care_center_id: str
    dong: str
    address: str | None = None
    notes: str | None = None
    inactivity_hours: float
    routine_enabled: bool
    quiet_hours: QuietHours | None = None
    away_periods: list[AwayPeriod]
    escalation_delays_s: list[int]
    checkin_enabled: bool
    checkin_schedule: str | None = None
    created_at: datetime
    retired_at: datetime | None


class ResidentIn(_In):
    """The person living in a household."""

    name: Text
    phone: Phone = None
    birth_date: date | None = None
    consent: bool = False


class ResidentPatch(_In):
    """Changes to a resident."""

    name: Text | None = None
    phone: Phone = None
    birth_date: date | None = None
    consent: bool | None = None


class ResidentOut(_Out):
    """A resident (personal data)."""

    id: int
    household_id: str
    name: str
    phone: str | None
    birth_date: date | None
    consent: bool
    consent_at: datetime | None
    retired_at: datetime | None


class ContactIn(_In):
    """An escalation contact; tier 1 is called first."""

    tier: Tier
    name: Text
    relation: OptShort = None
    phone: Phone = None
    email: Email = None


class ContactPatch(_In):
    """Changes to a contact."""

    tier: Tier | None = None
    name: Text | None = None
    relation: OptShort = None
    phone: Phone = None
    email: Email = None


class ContactOut(_Out):
    """An escalation contact (personal data)."""

    id: int
    household_id: str
    tier: int
    name: str
    relation: str | None
    phone: str | None
    email: str | None
    retired_at: datetime | None


class GatewayIn(_In):
    """A new gateway; ``gateway_id`` (also its MQTT username) unset: random."""

    gateway_id: Ident | None = None
    heartbeat_interval_s: HeartbeatInterval = 60


class GatewayPatch(_In):
    """Changes to a gateway."""

    heartbeat_interval_s: HeartbeatInterval | None = None


class GatewayOut(_Out):
    """A gateway."""

    id: str
    household_id: str
    heartbeat_interval_s: int
    created_at: datetime
    retired_at: datetime | None
    last_seen_at: datetime | None


class GatewayCredentials(BaseModel):
    """A gateway's MQTT login; the password is shown only in this answer."""

    gateway: GatewayOut
    mqtt_username: str
    mqtt_password: str
    mqtt_host: str
    mqtt_port: int


class DeviceIn(_In):
    """A new device at its base MQTT topic."""

    device_id: Ident | None = None
    kind: DeviceKindName
    source_format: SourceFormat
    mqtt_topic: Topic
    gateway_id: Ident | None = None
    room: OptShort = None
    reporting_interval_s: ReportingInterval = 3600
    installed_at: UtcDatetime | None = None


class DevicePatch(_In):
    """Changes to a device (a different kind or format needs a replacement)."""

    mqtt_topic: Topic | None = None
    gateway_id: Ident | None = None
    room: OptShort = None
    reporting_interval_s: ReportingInterval | None = None


class DeviceReplace(_In):
    """The new device; unset fields are taken over from the old one."""

    device_id: Ident | None = None
    kind: DeviceKindName | None = None
    source_format: SourceFormat | None = None
    mqtt_topic: Topic | None = None
    gateway_id: Ident | None = None
    room: OptShort = None
    reporting_interval_s: ReportingInterval | None = None


class DeviceRegistered(_Out):
    """A device as registered: what every answer about a device holds.

    The registry's API answers :class:`DeviceOut`; the installer app, which needs no more,
    answers this.
    """

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


class DeviceOut(DeviceRegistered):
    """A device, with its reporting interval and last report."""

    reporting_interval_s: int
    last_seen_at: datetime | None


class TokenIn(_In):
    """A new API token."""

    role: Role
    name: Text
    care_center_id: Ident | None = None


class TokenOut(_Out):
    """A stored token (never the token itself)."""

    id: str
    role: str
    care_center_id: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    """A new token: ``token`` is shown only in this answer."""

    token: str
    info: TokenOut


class WhoAmI(BaseModel):
    """The caller."""

    token_id: str
    role: Role
    care_center_id: str | None
    name: str


class Problem(BaseModel):
    """An error answer."""

    detail: str
    field: str | None = None
