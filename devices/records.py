"""Turning registry rows into the records published on ``anbu.registry`` (no personal data)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anbu.registry_records import (
    CareCenterRecord,
    DeviceRecord,
    GatewayRecord,
    HouseholdRecord,
    RegistryRecord,
)
from devices.models import CareCenter, Contact, Device, Gateway, Household

M = TypeVar("M", bound=BaseModel)


def from_row(model: type[M], row: Any, **given: Any) -> M:
    """A ``model`` of a registry row: its columns named like the model's fields, then ``given``.

    Only the model's own fields are read, so a published record or an API answer holds what
    it declares and no more (the row's personal data has no field there). The values are
    validated as in the model's constructor.
    """
    values = {name: getattr(row, name) for name in model.model_fields if hasattr(row, name)}
    return model.model_validate({**values, **given})


def published(record: type[M], row: Any, **given: Any) -> M:
    """The published ``record`` of a registry row: :func:`from_row`, retired if retired_at."""
    return from_row(record, row, retired=row.retired_at is not None, **given)


def center_record(row: CareCenter) -> CareCenterRecord:
    """The published form of a care center."""
    return published(CareCenterRecord, row, care_center_id=row.id, dongs=list(row.dongs or []))


def household_record(row: Household, tiers: int) -> HouseholdRecord:
    """The published form of a household (settings only; address and notes stay here)."""
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = {"start": row.quiet_start, "end": row.quiet_end}  # "HH:MM", validated to times
    return published(
        HouseholdRecord,
        row,
        household_id=row.id,
        quiet_hours=quiet,
        away_periods=row.away_periods or [],
        escalation_delays_s=list(row.escalation_delays_s or []),
        tiers=tiers,
    )


def device_record(row: Device) -> DeviceRecord:
    """The published form of a device."""
    return published(DeviceRecord, row, device_id=row.id)


def gateway_record(row: Gateway) -> GatewayRecord:
    """The published form of a gateway (its password hash stays here)."""
    return published(GatewayRecord, row, gateway_id=row.id, mqtt_username=row.id)


def tier_counts(session: Session, household_ids: list[str] | None = None) -> dict[str, int]:
    """How many distinct contact tiers each household has."""
    query = (
        select(Contact.household_id, func.count(func.distinct(Contact.tier)))
        .where(Contact.retired_at.is_(None))
        .group_by(Contact.household_id)
    )
    if household_ids is not None:
        query = query.where(Contact.household_id.in_(household_ids))
    return {hh: int(n) for hh, n in session.execute(query)}


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def records_for(
    session: Session,
    centers: set[str] | None = None,
    households: set[str] | None = None,
    gateways: set[str] | None = None,
    devices: set[str] | None = None,
) -> list[RegistryRecord]:
    """Records for the given ids; all of an entity type when its argument is None.

    Centers come first, then households, gateways and devices, so a consumer reading in
    order meets a household before its devices.
    """
    out: list[RegistryRecord] = []

    def rows(model: Any, wanted: set[str] | None) -> list[Any]:
        if wanted is None:
            return list(session.scalars(select(model).order_by(model.id)))
        found: list[Any] = []
        for chunk in _chunks(sorted(wanted)):
            found.extend(session.scalars(select(model).where(model.id.in_(chunk))))
        return found

    out.extend(center_record(r) for r in rows(CareCenter, centers))
    household_rows = rows(Household, households)
    tiers: dict[str, int] = {}
    if households is None:
        tiers = tier_counts(session)
    else:
        for chunk in _chunks(sorted(households)):
            tiers.update(tier_counts(session, chunk))
    out.extend(household_record(r, tiers.get(r.id, 0)) for r in household_rows)
    out.extend(gateway_record(r) for r in rows(Gateway, gateways))
    # Retired devices first: a replacement takes over its predecessor's topic, and a consumer
    # applying records in order must end with the active one.
    device_rows = sorted(rows(Device, devices), key=lambda d: (d.retired_at is None, d.id))
    out.extend(device_record(r) for r in device_rows)
    return out
