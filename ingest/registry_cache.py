"""The bridge's in-memory copy of the registry: which topic belongs to which device.

Fed by :mod:`ingest.registry_follower` from the compacted registry topic. Lookups happen for
every MQTT message, so they are a handful of dict lookups (one per topic level) and take no
lock; updates take a lock so a device moving to a new topic never leaves a stale entry.
"""

from __future__ import annotations

import threading

from anbu.events import SourceFormat
from anbu.registry_records import (
    CareCenterRecord,
    DeviceRecord,
    GatewayRecord,
    HouseholdRecord,
    RegistryRecord,
)
from ingest.readings import Owner

ANBU_ROOT = "anbu"
"""First topic level of anbu's own gateway and robot messages (``anbu/<gateway_id>/...``)."""


class RegistryCache:
    """Devices by base topic and gateways by id, kept current from registry records."""

    def __init__(self) -> None:
        self._by_topic: dict[str, Owner] = {}
        # base topics of the devices that can raise an SOS (see sos_sources), kept as they
        # change: deriving them from every device took 0.4 s at 100,000 households
        self._sos_topics: set[str] = set()
        self._device_topic: dict[str, str] = {}
        self._gateways: dict[str, GatewayRecord] = {}
        # first topic level -> gateway ids of the devices under it, to guess the gateway
        # of an unregistered topic
        self._roots: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self.households: set[str] = set()
        # Bumped on every change, so the SOS lane re-derives its subscriptions only then.
        self.version = 0

    def __len__(self) -> int:
        return len(self._by_topic)

    def apply(self, record: RegistryRecord) -> None:
        """Add, change or (``retired=True``) remove an entity."""
        self.version += 1
        if isinstance(record, DeviceRecord):
            if record.retired:
                self.remove(f"device:{record.device_id}")
            else:
                self._put_device(record)
        elif isinstance(record, GatewayRecord):
            with self._lock:
                if record.retired:
                    self._gateways.pop(record.gateway_id, None)
                else:
                    self._gateways[record.gateway_id] = record
        elif isinstance(record, HouseholdRecord):
            with self._lock:
                if record.retired:
                    self.households.discard(record.household_id)
                else:
                    self.households.add(record.household_id)
        elif isinstance(record, CareCenterRecord):
            pass  # care centers do not change how messages are routed

    def remove(self, key: str) -> None:
        """Remove the entity with registry key ``"<type>:<id>"`` (a tombstone)."""
        kind, _, ident = key.partition(":")
        self.version += 1
        with self._lock:
            if kind == "device":
                topic = self._device_topic.pop(ident, None)
                if topic is not None:
                    owner = self._by_topic.pop(topic, None)
                    self._sos_topics.discard(topic)
                    if owner is not None:
                        self._unroot(owner)
            elif kind == "gateway":
                self._gateways.pop(ident, None)
            elif kind == "household":
                self.households.discard(ident)

    def _put_device(self, record: DeviceRecord) -> None:
        topic = record.mqtt_topic.strip("/")
        owner = Owner(
            device_id=record.device_id,
            household_id=record.household_id,
            gateway_id=record.gateway_id,
            kind=record.kind,
            source_format=record.source_format,
            base_topic=topic,
        )
        with self._lock:
            old_topic = self._device_topic.get(record.device_id)
            if old_topic is not None:
                old = self._by_topic.pop(old_topic, None)
                self._sos_topics.discard(old_topic)
                if old is not None:
                    self._unroot(old)
            replaced = self._by_topic.get(topic)
            if replaced is not None and replaced.device_id != record.device_id:
                # A replacement device took over the topic: the old one no longer owns it.
                self._device_topic.pop(replaced.device_id, None)
                self._unroot(replaced)
            self._by_topic[topic] = owner
            if owner.kind == "button" or owner.source_format is SourceFormat.ANBU:
                self._sos_topics.add(topic)
            else:
                self._sos_topics.discard(topic)
            self._device_topic[record.device_id] = topic
            if owner.gateway_id:
                counts = self._roots.setdefault(topic.split("/", 1)[0], {})
                counts[owner.gateway_id] = counts.get(owner.gateway_id, 0) + 1

    def _unroot(self, owner: Owner) -> None:
        if not owner.gateway_id:
            return
        counts = self._roots.get(owner.base_topic.split("/", 1)[0])
        if counts and owner.gateway_id in counts:
            counts[owner.gateway_id] -= 1
            if counts[owner.gateway_id] <= 0:
                del counts[owner.gateway_id]

    def owner_of(self, topic: str) -> tuple[Owner, str] | None:
        """Return the device owning ``topic`` and the rest of the topic after its base.

        The owner is the registered device whose base topic is the longest prefix of
        ``topic`` on level boundaries; failing that, for ``anbu/<gateway_id>/...``, the
        registered gateway itself.
        """
        levels = topic.split("/")
        for end in range(len(levels), 0, -1):
            owner = self._by_topic.get("/".join(levels[:end]))
            if owner is not None:
                return owner, "/".join(levels[end:])
        if len(levels) >= 2 and levels[0] == ANBU_ROOT:
            gateway = self._gateways.get(levels[1])
            if gateway is not None:
                owner = Owner(
                    device_id=gateway.gateway_id,
                    household_id=gateway.household_id,
                    gateway_id=gateway.gateway_id,
                    kind="gateway",
                    source_format=SourceFormat.ANBU,
                    base_topic=f"{ANBU_ROOT}/{gateway.gateway_id}",
                )
                return owner, "/".join(levels[2:])
        return None

    def sos_sources(self) -> tuple[list[str], list[str]]:
        """Where a call for help can come from: gateway ids, and devices' base topics.

        Every registered gateway (its ``anbu/<gateway_id>/...`` messages may be an SOS or a
        fall), and every registered device that can raise one: an emergency button of any
        format, or a device speaking anbu JSON (a care robot).
        """
        with self._lock:
            return list(self._gateways), list(self._sos_topics)

    def gateway_of_unregistered(self, topic: str) -> str | None:
        """Best guess of the gateway an unregistered topic comes from, for installers.

        ``anbu/<gateway_id>/...`` names it; otherwise, when every registered device under the
        topic's first level hangs off the same gateway, that one.
        """
        levels = topic.split("/")
        if len(levels) >= 2 and levels[0] == ANBU_ROOT and levels[1] in self._gateways:
            return levels[1]
        counts = self._roots.get(levels[0])
        if counts and len(counts) == 1:
            return next(iter(counts))
        return None
