"""What the simulator produces: events in time order, and the truth about what happened.

Events are plain named tuples rather than pydantic models: the detection benchmark makes
tens of millions of them, and they become :class:`anbu.events.DeviceEvent` (or native MQTT
payloads) only where one is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from anbu.events import DeviceEvent, EventKind, SourceFormat
from anbu.registry_records import DeviceKindName
from anbu.timeutil import from_epoch


class SimEvent(NamedTuple):
    """One normalised device reading, as the bridge would produce it.

    Attributes:
        t: event time, Unix epoch seconds.
        household_id: pseudonymous household id.
        device_id: pseudonymous device id.
        kind: an :class:`anbu.events.EventKind` value (``motion``, ``power``, ...), or
            ``sos`` for an emergency (which travels as an SosEvent, not a DeviceEvent).
        value: 1/0 for binary kinds, watts for power, percent for battery.
        detail: short free text (robot interaction type, SOS cause).
    """

    t: float
    household_id: str
    device_id: str
    kind: str
    value: float
    detail: str | None = None


class IncidentKind(StrEnum):
    """What the ground truth records."""

    COLLAPSE = "collapse"  # activity stops and does not come back
    ILLNESS = "illness"  # activity dwindles over days
    WITHDRAWAL = "withdrawal"  # going out and moving about dwindle over weeks, nights restless
    TRIP = "trip"  # away from home (registered_away tells whether a care worker knew)
    GATEWAY_OUTAGE = "gateway_outage"  # nothing from the household gets through
    DEVICE_DROPOUT = "device_dropout"  # one device falls silent
    BATTERY_DEAD = "battery_dead"  # a device's battery ran out: silent until the end


@dataclass(frozen=True, slots=True)
class Incident:
    """One entry of the ground truth.

    Attributes:
        household_id: the household.
        kind: what happened.
        start: when it started (for a collapse: the resident's last movement).
        end: when it ended (a collapse lasts until the end of the simulated period).
        registered_away: for trips, whether a care worker registered the away period.
        device_id: for device problems, the device.
    """

    household_id: str
    kind: IncidentKind
    start: datetime
    end: datetime
    registered_away: bool = False
    device_id: str | None = None

    def as_row(self) -> dict[str, str]:
        """The incident as a CSV/JSON row (ISO 8601 times with offset)."""
        return {
            "household_id": self.household_id,
            "kind": self.kind.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "registered_away": "true" if self.registered_away else "false",
            "device_id": self.device_id or "",
        }


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A simulated device and how it publishes.

    Attributes:
        device_id: pseudonymous id.
        household_id: its household.
        kind: the registry's device kind.
        room: where it is.
        source_format: the native MQTT format it speaks.
        mqtt_topic: its base topic (the registry's ``mqtt_topic``).
        appliance: for plugs, what is plugged in (``tv``, ``rice_cooker``, ``kettle``).
        battery_powered: whether it reports a battery level.
        reporting_interval_s: the longest it stays silent when healthy.
    """

    device_id: str
    household_id: str
    kind: DeviceKindName
    room: str | None
    source_format: SourceFormat
    mqtt_topic: str
    appliance: str | None = None
    battery_powered: bool = False
    reporting_interval_s: int = 3600


@dataclass(slots=True)
class SimHousehold:
    """A household: its registry identity, resident profile and devices."""

    household_id: str
    index: int
    care_center_id: str
    dong: str
    gateway_id: str
    devices: list[SimDevice]
    away_periods: list[tuple[datetime, datetime]] = field(default_factory=list)
    inactivity_hours: float = 24.0

    def device(self, name: str) -> SimDevice:
        """The device whose id ends with ``-name`` (``motion-kitchen``, ``plug-tv``)."""
        for device in self.devices:
            if device.device_id.endswith("-" + name):
                return device
        raise KeyError(name)


_KINDS = {kind.value: kind for kind in EventKind}


def to_device_event(event: SimEvent, gateway_id: str | None = None) -> DeviceEvent:
    """Build the :class:`DeviceEvent` the bridge would have produced, without validation.

    The simulator's values are correct by construction, so ``model_construct`` skips
    pydantic's validation: it is several times faster, which matters at tens of millions.
    """
    moment = from_epoch(event.t)
    return DeviceEvent.model_construct(
        household_id=event.household_id,
        device_id=event.device_id,
        kind=_KINDS[event.kind],
        value=event.value,
        event_time=moment,
        receive_time=moment,
        source_format=SourceFormat.SIMULATOR,
        idempotency_key=f"{event.device_id}:{event.t:.3f}:{event.kind}",
        clock_flagged=False,
        gateway_id=gateway_id,
        detail=event.detail,
    )
