"""The event model every package shares: what travels on Kafka between the stages.

Everything here is pseudonymous: household, device and gateway ids, never names or
addresses (those stay in the registry). Datetimes are aware and normalised to UTC.
Every record carries ``schema_version`` so consumers can refuse what they do not know.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from anbu.timeutil import to_utc

SCHEMA_VERSION: Literal[1] = 1

UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""An aware datetime, normalised to UTC on validation."""


class SourceFormat(StrEnum):
    """The native payload format an event arrived in."""

    ZIGBEE2MQTT = "zigbee2mqtt"
    TASMOTA = "tasmota"
    SHELLY = "shelly"
    ANBU = "anbu"
    SIMULATOR = "simulator"
    BACKTEST = "backtest"


class EventKind(StrEnum):
    """What a normalised device event reports."""

    MOTION = "motion"  # 1 occupancy detected, 0 cleared
    DOOR = "door"  # entrance door: 1 open, 0 closed
    CONTACT = "contact"  # any other contact sensor: 1 open, 0 closed
    PRESENCE = "presence"  # bed/couch: 1 occupied, 0 empty
    POWER = "power"  # watts
    ENERGY = "energy"  # kWh, cumulative
    SWITCH = "switch"  # plug relay state: 1 on, 0 off
    BUTTON = "button"  # a non-emergency button action
    ROBOT = "robot"  # care-robot interaction (touch, voice, medication taken)
    CHECKIN_ANSWER = "checkin_answer"  # resident answered the robot's "are you all right?"
    HEARTBEAT = "heartbeat"  # gateway alive; advances the household clock
    BATTERY = "battery"  # percent
    LINKQUALITY = "linkquality"  # 0-255 (Zigbee LQI)
    AVAILABILITY = "availability"  # 1 online, 0 offline


class SosCause(StrEnum):
    """Why an SOS was raised."""

    BUTTON = "button"
    ROBOT_EMERGENCY = "robot_emergency"
    FALL = "fall"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION

    def to_json(self) -> bytes:
        """Serialise to compact JSON bytes for Kafka."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Any:
        """Parse JSON produced by :meth:`to_json` (raises pydantic's ValidationError)."""
        return cls.model_validate_json(data)


def idempotency_key(*parts: object) -> str:
    """Derive a stable key from what makes an event unique (source, topic, payload, time)."""
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        digest.update(str(part).encode())
        digest.update(b"\x1f")
    return digest.hexdigest()


class DeviceEvent(_Record):
    """One normalised reading or change from a device or gateway.

    Attributes:
        household_id: pseudonymous household id (from the registry, never the payload).
        device_id: pseudonymous device id.
        kind: what the value means.
        value: the reading: 1/0 for binary kinds, watts, kWh, percent.
        event_time: when it happened (device time if trusted, else receive time).
        receive_time: when the broker bridge received it.
        source_format: the native format it arrived in.
        idempotency_key: equal for redeliveries of the same message; used to drop duplicates.
        clock_flagged: the device's own timestamp was outside the trusted window and ignored.
        gateway_id: the gateway that forwarded it, if known.
        detail: short free text from the payload (a button action, a robot interaction type).
    """

    household_id: str = Field(min_length=1, max_length=64)
    device_id: str = Field(min_length=1, max_length=64)
    kind: EventKind
    value: float
    event_time: UtcDatetime
    receive_time: UtcDatetime
    source_format: SourceFormat
    idempotency_key: str = Field(min_length=1, max_length=128)
    clock_flagged: bool = False
    gateway_id: str | None = None
    detail: str | None = Field(default=None, max_length=200)


class EventBatch(_Record):
    """Several device events in one Kafka record (for throughput).

    Consumers pay per record far more than per event, so telemetry is carried in batches;
    SOS is never batched. The bridge gathers the events bound for one partition of
    ``anbu.events``: a batch may hold several households, each on the partition its own
    household key maps to, each household's events in their order. Every event names its
    household; read ``event.household_id``, never the batch's.

    Attributes:
        household_id: the one household of the batch, when it has only one (records
            written before mixed batches always had it); None for a mixed batch.
        events: the events.
    """

    type: Literal["batch"] = "batch"
    household_id: str | None = None
    events: list[DeviceEvent]

    @model_validator(mode="after")
    def _one_household_if_named(self) -> EventBatch:
        if self.household_id is not None:
            for event in self.events:
                if event.household_id != self.household_id:
                    raise ValueError(
                        f"event of household {event.household_id!r} in a batch of "
                        f"{self.household_id!r}"
                    )
        return self

    def households(self) -> list[str]:
        """The households of the batch, in order of first appearance."""
        return list(dict.fromkeys(event.household_id for event in self.events))


class SosEvent(_Record):
    """An urgent call for help: an SOS button, a robot's emergency keyword, a fall report."""

    type: Literal["sos"] = "sos"
    household_id: str = Field(min_length=1, max_length=64)
    device_id: str = Field(min_length=1, max_length=64)
    cause: SosCause
    event_time: UtcDatetime
    receive_time: UtcDatetime
    source_format: SourceFormat
    idempotency_key: str = Field(min_length=1, max_length=128)
    clock_flagged: bool = False
    detail: str | None = Field(default=None, max_length=200)


DEAD_LETTER_PAYLOAD_MAX = 128 * 1024
"""Characters of a payload a dead letter keeps: JSON may write one as six (``\u0001``), and
the record must stay under Kafka's 1 MB."""


class DeadLetter(_Record):
    """An input that could not become an event, kept with the reason so nothing is lost.

    Attributes:
        reason: short machine-readable reason (``not_json``, ``unregistered``, ...).
        detail: human-readable explanation.
        topic: the MQTT topic it came in on.
        payload: the raw payload, decoded as UTF-8 with replacement, or base64 if binary.
        payload_encoding: ``utf-8`` or ``base64``.
        receive_time: when the bridge received it.
        gateway_id: the gateway it came from, when the topic tells.
        payload_chars: the payload's full length when it was cut to
            :data:`DEAD_LETTER_PAYLOAD_MAX` characters (``None``: kept whole).
    """

    reason: str
    detail: str
    topic: str
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    receive_time: UtcDatetime
    source_format: SourceFormat | None = None
    gateway_id: str | None = None
    payload_chars: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _clip_payload(cls, data: Any) -> Any:
        # Kafka refuses records over 1 MB: a dead letter that can never be sent would stall
        # whoever waits for it, so a huge payload is kept in part, with its length.
        if isinstance(data, dict):
            payload = data.get("payload")
            if isinstance(payload, str) and len(payload) > DEAD_LETTER_PAYLOAD_MAX:
                data = {**data, "payload": payload[:DEAD_LETTER_PAYLOAD_MAX],
                        "payload_chars": len(payload)}
        return data


class AlertKind(StrEnum):
    """What an alert is about."""

    SOS = "sos"
    INACTIVITY = "inactivity"  # fixed rule: no activity for N hours
    INACTIVITY_ROUTINE = "inactivity_routine"  # silence improbable under the learned routine
    NOT_BACK = "not_back"  # an outing runs far beyond the resident's usual
    AWAY_OVERRUN = "away_overrun"  # no return by the end of a registered away period
    CHECKIN_MISSED = "checkin_missed"  # scheduled check-in calls missed in a row (alerts/)
    DEVICE_SILENT = "device_silent"
    BATTERY_LOW = "battery_low"
    GATEWAY_OFFLINE = "gateway_offline"


HEALTH_KINDS = frozenset(
    {AlertKind.DEVICE_SILENT, AlertKind.BATTERY_LOW, AlertKind.GATEWAY_OFFLINE}
)
"""Alerts for installers and maintenance rather than care workers."""


class Severity(StrEnum):
    """How urgent an alert is."""

    CRITICAL = "critical"
    HIGH = "high"
    WARNING = "warning"
    INFO = "info"


class AlertAction(StrEnum):
    """What a detector says about an alert."""

    RAISE = "raise"
    UPDATE = "update"
    RESOLVE = "resolve"


class AlertEvent(_Record):
    """A detector's statement about an alert, published on ``anbu.alerts``.

    Attributes:
        alert_id: deterministic id (household, kind, episode start), so a restarted worker
            that raises the same alert again produces the same id.
        action: raise, update or resolve.
        raised_at: event time at which the condition was detected.
        reason: plain-language reason in English.
        reason_ko: the same reason in Korean.
        device_id: the device concerned, for health alerts.
        details: numbers behind the reason (hours silent, expected rate, probability).
    """

    type: Literal["alert"] = "alert"
    alert_id: str
    household_id: str
    kind: AlertKind
    severity: Severity
    action: AlertAction
    raised_at: UtcDatetime
    reason: str
    reason_ko: str
    device_id: str | None = None
    details: dict[str, float | int | str | bool] = Field(default_factory=dict)


def alert_id(household_id: str, kind: AlertKind, episode_start: datetime, device: str = "") -> str:
    """Return the deterministic id of an alert episode."""
    return idempotency_key(
        "alert", household_id, kind.value, device, to_utc(episode_start).isoformat()
    )
