"""What adapters return: readings in anbu's vocabulary, before ids and times are attached.

Adapters know payload formats; they know nothing about Kafka, the registry topic or the
clock. The normaliser turns these into :class:`anbu.events.DeviceEvent` and
:class:`anbu.events.SosEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from anbu.events import EventKind, SosCause, SourceFormat
from anbu.registry_records import DeviceKindName


@dataclass(frozen=True, slots=True)
class Owner:
    """The registered device (or gateway) a topic belongs to, as the registry says.

    Attributes:
        device_id: the device's id (the gateway's id for a gateway's own messages).
        household_id: its household.
        gateway_id: the gateway it hangs off, if known.
        kind: the registered device kind (``button`` makes any press an SOS).
        source_format: the payload format the device speaks.
        base_topic: the registered base topic that matched.
    """

    device_id: str
    household_id: str
    gateway_id: str | None
    kind: DeviceKindName
    source_format: SourceFormat
    base_topic: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalised value (see :class:`anbu.events.EventKind` for units)."""

    kind: EventKind
    value: float
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Emergency:
    """A call for help found in a payload."""

    cause: SosCause
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """What an adapter found in one message.

    Attributes:
        items: readings and emergencies, in payload order; at most one per kind.
        device_time: the device's own aware timestamp, if it sent one.
        stamp: the device's own time or sequence number as text, for the idempotency key
            (also set for timestamps without a timezone, which are not trusted as time).
    """

    items: list[Reading | Emergency] = field(default_factory=list)
    device_time: datetime | None = None
    stamp: str | None = None
