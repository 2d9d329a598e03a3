"""Read-only questions other packages ask the registry (alerts, inbox authentication)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from config import Settings
from devices.db import init_db
from devices.models import ApiToken, CareCenter, Contact, Device, Household
from devices.principals import Principal, Role, hash_token


@dataclass(frozen=True, slots=True)
class HouseholdInfo:
    """What the alerts service needs about a household (no personal data).

    Attributes:
        household_id: pseudonymous id.
        care_center_id: the responsible center.
        dong: neighbourhood.
        escalation_delays_s: seconds to wait at each contact tier before the next.
        checkin_enabled: ask the care robot before escalating.
        inactivity_hours: the fixed inactivity rule's N.
        retired: the household is no longer watched.
    """

    household_id: str
    care_center_id: str
    dong: str
    escalation_delays_s: list[int] = field(default_factory=list)
    checkin_enabled: bool = True
    inactivity_hours: float = 24.0
    retired: bool = False


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """One escalation contact (personal data: never log or publish it)."""

    tier: int
    name: str
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class CareCenterInfo:
    """A care center and how to reach its duty desk."""

    care_center_id: str
    name: str
    dongs: list[str]
    duty_phone: str | None
    email: str | None
    webhook_url: str | None

Info = TypeVar("Info")
Model = TypeVar("Model")


class RegistryLookup:
    """Short read-only queries against the registry database; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        """Use ``engine`` (already migrated)."""
        self.engine = engine

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryLookup:
        """Open (and migrate, if needed) the configured registry database."""
        return cls(init_db(settings))

    def household(self, household_id: str) -> HouseholdInfo | None:
        """The household, or None if it was never registered."""
        return self._one(Household, household_id, lambda row: HouseholdInfo(
            household_id=row.id,
            care_center_id=row.care_center_id,
            dong=row.dong,
            escalation_delays_s=list(row.escalation_delays_s or []),
            checkin_enabled=row.checkin_enabled,
            inactivity_hours=row.inactivity_hours,
            retired=row.retired_at is not None,
        ))

    def contacts(self, household_id: str) -> list[ContactInfo]:
        """The household's current contacts, tier 1 first."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(Contact)
                .where(Contact.household_id == household_id, Contact.retired_at.is_(None))
                .order_by(Contact.tier, Contact.id)
            )
            return [ContactInfo(r.tier, r.name, r.phone, r.email) for r in rows]

    def care_center(self, care_center_id: str) -> CareCenterInfo | None:
        """The care center, or None."""
        return self._one(CareCenter, care_center_id, lambda row: CareCenterInfo(
            row.id, row.name, list(row.dongs or []), row.duty_phone, row.email, row.webhook_url
        ))

    def _one(self, model: type[Model], ident: str, read: Callable[[Model], Info]) -> Info | None:
        """``read`` of the row of ``model`` with id ``ident``, or None if there is none."""
        with Session(self.engine) as session:
            row = session.get(model, ident)
            return None if row is None else read(row)

    def robot_topic(self, household_id: str) -> str | None:
        """The base MQTT topic of the household's active care robot, if it has one."""
        with Session(self.engine) as session:
            return session.scalar(
                select(Device.mqtt_topic)
                .where(
                    Device.household_id == household_id,
                    Device.kind == "robot",
                    Device.retired_at.is_(None),
                )
                .order_by(Device.installed_at.desc())
                .limit(1)
            )

    def households_of_center(self, care_center_id: str) -> list[str]:
        """Ids of the center's active households."""
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(Household.id)
                    .where(
                        Household.care_center_id == care_center_id,
                        Household.retired_at.is_(None),
                    )
                    .order_by(Household.id)
                )
            )

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise."""
        if not token or len(token) > 200:
            return None
        with Session(self.engine) as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
            if row is None or row.revoked_at is not None:
                return None
            return Principal(row.id, Role(row.role), row.care_center_id, row.name)
