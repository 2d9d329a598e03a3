"""Who to notify, and a household's alert settings: the registry as the alerts service sees it.

Personal data (names, phone numbers, e-mail addresses) stays in the registry's database and
is looked up only at the moment a notification is sent; the alert store keeps labels only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerts.model import HouseholdPolicy
from anbu.registry_records import HouseholdRecord
from config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Contact:
    """A person to notify at a tier."""

    tier: int
    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class CenterContact:
    """A care center's own channels."""

    care_center_id: str
    webhook_url: str | None = None
    email: str | None = None
    duty_phone: str | None = None


class Directory(Protocol):
    """What the alerts service asks the registry."""

    def policy(self, household_id: str) -> HouseholdPolicy | None:
        """The household's alert settings, or None if unknown."""
        ...

    def contacts(self, household_id: str) -> list[Contact]:
        """The household's contacts, all tiers."""
        ...

    def center(self, care_center_id: str) -> CenterContact | None:
        """The care center's channels."""
        ...

    def robot_topic(self, household_id: str) -> str | None:
        """The base MQTT topic of the household's care robot, if it has one."""
        ...

    def call_schedules(self) -> Mapping[str, str]:
        """Each household's check-in call schedule (canonical text), if it has one."""
        ...


def policy_of(record: HouseholdRecord) -> HouseholdPolicy:
    """The alerts service's view of a published household record."""
    return HouseholdPolicy(
        care_center_id=record.care_center_id,
        dong=record.dong,
        escalation_delays_s=tuple(record.escalation_delays_s),
        checkin_enabled=record.checkin_enabled,
        tiers=max(1, record.tiers),
    )


@dataclass
class StaticDirectory:
    """A directory held in memory: for benchmarks and for running without a registry."""

    policies: dict[str, HouseholdPolicy] = field(default_factory=dict)
    people: dict[str, list[Contact]] = field(default_factory=dict)
    centers: dict[str, CenterContact] = field(default_factory=dict)
    robots: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, str] = field(default_factory=dict)

    def policy(self, household_id: str) -> HouseholdPolicy | None:
        """See :class:`Directory`."""
        return self.policies.get(household_id)

    def contacts(self, household_id: str) -> list[Contact]:
        """See :class:`Directory`."""
        return list(self.people.get(household_id, []))

    def center(self, care_center_id: str) -> CenterContact | None:
        """See :class:`Directory`."""
        return self.centers.get(care_center_id)

    def robot_topic(self, household_id: str) -> str | None:
        """See :class:`Directory`."""
        return self.robots.get(household_id)

    def call_schedules(self) -> Mapping[str, str]:
        """See :class:`Directory`."""
        return self.schedules


class RegistryDirectory:
    """The registry: household records from ``anbu.registry``, people from its database.

    Household policies arrive on the compacted topic (fed in with :meth:`apply_record`);
    contacts, center channels and robot topics come from ``devices.lookup.RegistryLookup``
    at the moment of sending. A lookup failure is logged and treated as "nobody to
    notify" for that channel, never as a crash: the other channels still go out.

    Args:
        lookup: a ``devices.lookup.RegistryLookup`` (or anything with the same methods).
    """

    def __init__(self, lookup: Any | None) -> None:
        self.lookup = lookup
        self.policies: dict[str, HouseholdPolicy] = {}
        self.schedules: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryDirectory:
        """Open the registry database named in ``settings``."""
        try:
            from devices.lookup import RegistryLookup
        except ImportError:  # the registry package is optional for a bare alerts service
            log.warning("devices.lookup is not installed: no contacts, centers or robots")
            return cls(None)
        return cls(RegistryLookup.from_settings(settings))

    def apply_record(self, record: Any) -> None:
        """Take in one record from ``anbu.registry``."""
        if isinstance(record, HouseholdRecord):
            if record.retired:
                self.policies.pop(record.household_id, None)
            else:
                self.policies[record.household_id] = policy_of(record)
            if record.checkin_schedule and not record.retired:
                self.schedules[record.household_id] = record.checkin_schedule
            else:
                self.schedules.pop(record.household_id, None)

    def call_schedules(self) -> Mapping[str, str]:
        """See :class:`Directory`: the schedules published on ``anbu.registry``."""
        return self.schedules

    def policy(self, household_id: str) -> HouseholdPolicy | None:
        """See :class:`Directory`; falls back to the registry database."""
        found = self.policies.get(household_id)
        if found is not None:
            return found
        record = self._ask("household", household_id, "household")
        if record is None:
            return None
        if isinstance(record, HouseholdRecord):
            return policy_of(record)
        return HouseholdPolicy(
            care_center_id=str(getattr(record, "care_center_id", "") or ""),
            dong=str(getattr(record, "dong", "") or ""),
            escalation_delays_s=tuple(getattr(record, "escalation_delays_s", ()) or ()),
            checkin_enabled=bool(getattr(record, "checkin_enabled", False)),
            tiers=int(getattr(record, "tiers", 3) or 3),
        )

    def contacts(self, household_id: str) -> list[Contact]:
        """See :class:`Directory`."""
        found = self._ask("contacts", household_id, "contacts of") or []
        return [
            Contact(
                tier=int(getattr(c, "tier", 1)),
                name=str(getattr(c, "name", "")),
                phone=getattr(c, "phone", None),
                email=getattr(c, "email", None),
            )
            for c in found
        ]

    def center(self, care_center_id: str) -> CenterContact | None:
        """See :class:`Directory`."""
        if not care_center_id:
            return None
        found = self._ask("care_center", care_center_id, "center")
        if found is None:
            return None
        return CenterContact(
            care_center_id=care_center_id,
            webhook_url=getattr(found, "webhook_url", None),
            email=getattr(found, "email", None),
            duty_phone=getattr(found, "duty_phone", None),
        )

    def robot_topic(self, household_id: str) -> str | None:
        """See :class:`Directory`."""
        topic = self._ask("robot_topic", household_id, "the robot of")
        return str(topic) if topic else None

    def _ask(self, method: str, ident: str, what: str) -> Any:
        """``lookup.<method>(ident)``, or None with no registry or when it fails (logged)."""
        if self.lookup is None:
            return None
        try:
            return getattr(self.lookup, method)(ident)
        except Exception:  # noqa: BLE001 - a registry hiccup must not stop an alert
            log.exception("registry lookup of %s %s failed", what, ident)
            return None


def recipients(
    directory: Directory, household_id: str, care_center_id: str, tier: int
) -> tuple[list[str], list[str]]:
    """E-mail addresses and phone numbers to notify at ``tier``.

    Tier 1 is the household's care workers and the center's mailbox, tier 2 adds the
    center's duty phone, tier 3 and beyond are the household's district or emergency
    contacts of that tier.
    """
    people = [c for c in directory.contacts(household_id) if c.tier == tier]
    emails = [c.email for c in people if c.email]
    phones = [c.phone for c in people if c.phone]
    center = directory.center(care_center_id)
    if center is not None:
        if tier == 1 and center.email:
            emails.append(center.email)
        if tier == 2 and center.duty_phone:
            phones.append(center.duty_phone)
    return sorted(set(emails)), sorted(set(phones))
