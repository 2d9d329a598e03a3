"""The registry's tables (SQLAlchemy 2).

Personal data lives only in ``residents`` and ``contacts`` (and a household's ``address``);
everything published elsewhere uses the pseudonymous ids.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from anbu.timeutil import utcnow


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite has no time zones, so they are restored here."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: a timezone is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: Any) -> Table:
    """The Core table of a mapped class, for bulk statements."""
    table: Table = model.__table__
    return table


# Column kinds several tables share, so that e.g. a phone column is the same everywhere.
StrKey = Annotated[str, mapped_column(String(64), primary_key=True)]
IntKey = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
HouseholdId = Annotated[str, mapped_column(ForeignKey("households.id"), index=True)]
Name = Annotated[str, mapped_column(String(200))]
Phone = Annotated[str, mapped_column(String(40))]
Email = Annotated[str, mapped_column(String(200))]
Created = Annotated[datetime, mapped_column(default=utcnow)]


class Base(DeclarativeBase):
    """Declarative base of the registry's tables."""

    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime(), date: Date()}


class Lifetime:
    """When a row was made and when it was retired (None while it is active).

    Registry rows are retired, never deleted, so that history and alerts keep their
    subjects. Its columns come after the table's own, where the migrations put them.
    """

    created_at: Mapped[Created]
    retired_at: Mapped[datetime | None]


class CareCenter(Lifetime, Base):
    """A welfare or community center and the dongs it covers."""

    __tablename__ = "care_centers"

    id: Mapped[StrKey]
    name: Mapped[Name]
    dongs: Mapped[list[str]] = mapped_column(JSON, default=list)
    duty_phone: Mapped[Phone | None]
    email: Mapped[Email | None]
    webhook_url: Mapped[str | None] = mapped_column(String(500))


class Household(Lifetime, Base):
    """A watched home, known elsewhere only by its pseudonymous id."""

    __tablename__ = "households"

    id: Mapped[StrKey]
    care_center_id: Mapped[str] = mapped_column(ForeignKey("care_centers.id"), index=True)
    dong: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(Text)
    inactivity_hours: Mapped[float] = mapped_column(Float, default=24.0)
    routine_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    away_periods: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    escalation_delays_s: Mapped[list[int]] = mapped_column(JSON, default=lambda: [900, 900, 1800])
    checkin_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # canonical text of anbu.call_schedule ("mon-fri 10:00"); None: no scheduled calls
    checkin_schedule: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)


class Resident(Lifetime, Base):
    """The person living in a household: personal data, kept only here."""

    __tablename__ = "residents"

    id: Mapped[IntKey]
    household_id: Mapped[HouseholdId]
    name: Mapped[Name]
    phone: Mapped[Phone | None]
    birth_date: Mapped[date | None]
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None]


class Contact(Lifetime, Base):
    """Someone to call when an alert is not acknowledged, in escalation tiers (1 first)."""

    __tablename__ = "contacts"

    id: Mapped[IntKey]
    household_id: Mapped[HouseholdId]
    tier: Mapped[int] = mapped_column(Integer)
    name: Mapped[Name]
    relation: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[Phone | None]
    email: Mapped[Email | None]


class Gateway(Base):
    """A home gateway; its MQTT username is its id, and only the password's hash is kept."""

    __tablename__ = "gateways"

    id: Mapped[StrKey]
    household_id: Mapped[HouseholdId]
    password_hash: Mapped[str] = mapped_column(String(200))
    heartbeat_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[Created]
    retired_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]


class Device(Base):
    """A sensor, plug, button or robot; a replacement is a new row pointing at the old one."""

    __tablename__ = "devices"
    __table_args__ = (
        # Two active devices cannot share a base topic: the bridge could not tell them apart.
        Index(
            "ux_devices_active_topic",
            "mqtt_topic",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )

    id: Mapped[StrKey]
    household_id: Mapped[HouseholdId]
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id"))
    kind: Mapped[str] = mapped_column(String(20))
    source_format: Mapped[str] = mapped_column(String(20))
    mqtt_topic: Mapped[str] = mapped_column(String(250))
    room: Mapped[str | None] = mapped_column(String(100))
    reporting_interval_s: Mapped[int] = mapped_column(Integer, default=3600)
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    replaces: Mapped[str | None] = mapped_column(String(64))
    replaced_by: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[Created]


class ApiToken(Base):
    """An API token: only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[StrKey]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    care_center_id: Mapped[str | None] = mapped_column(ForeignKey("care_centers.id"))
    name: Mapped[Name]
    created_at: Mapped[Created]
    revoked_at: Mapped[datetime | None]
