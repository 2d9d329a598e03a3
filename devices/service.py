"""Registering care centers, households, residents, contacts, gateways, devices and tokens.

The functions work on a SQLAlchemy :class:`Session` and note what they changed in it
(:mod:`devices.changes`); :func:`devices.unit_of_work.registry_session` commits, then
publishes every changed entity to ``anbu.registry`` and rewrites Mosquitto's password and
ACL files when gateways or devices changed::

    with registry_session(settings) as session:
        create_care_center(session, "cc-01", "Mapo Welfare Center", dongs=["Seogyo-dong"])
        household = create_household(session, "cc-01", "Seogyo-dong")
        gateway, password = create_gateway(session, household.id)
        add_device(session, household.id, "motion", "zigbee2mqtt", "zigbee2mqtt/hall_pir")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import time
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from anbu.call_schedule import CheckinScheduleText
from anbu.registry_records import AwayPeriod, QuietHours
from anbu.timeutil import utcnow
from devices.changes import changes_of
from devices.exceptions import Conflict, InvalidInput, NotFound
from devices.models import ApiToken, CareCenter, Device, Gateway, Household
from devices.rules import (
    EscalationDelays,
    InactivityHours,
    check_id,
    checked,
    new_id,
    not_null,
    parse_quiet_hours,
)
from devices.schemas import CenterPatch, HouseholdPatch

Row = TypeVar("Row")


class _Retirable(Protocol):
    retired_at: Any


class _Identified(Protocol):
    id: Any


Retirable = TypeVar("Retirable", bound=_Retirable)
Identified = TypeVar("Identified", bound=_Identified)

# --- loading with visibility ----------------------------------------------------------


# how a row missing from the registry is named in the error; others by their model's name
_KINDS: dict[type[Any], str] = {CareCenter: "care center", ApiToken: "token"}


def get_row(session: Session, model: type[Row], ident: str | int) -> Row:
    """The row of ``model`` with id ``ident``.

    Raises:
        NotFound: there is none (naming it "care center", "household", "device"...).
    """
    row = session.get(model, ident)
    if row is None:
        raise NotFound(_KINDS.get(model, model.__name__.lower()), str(ident))
    return row


def patched(
    session: Session, model: type[Row], ident: str | int, patch: BaseModel
) -> tuple[Row, dict[str, Any]]:
    """The row a PATCH changes, and its changes: only the keys the caller sent (null clears).

    Raises:
        NotFound: there is no such row.
    """
    return get_row(session, model, ident), patch.model_dump(exclude_unset=True)


def check_free(session: Session, model: type[Any], ident: str) -> None:
    """Raise :class:`Conflict` if a row of ``model`` with id ``ident`` exists (even retired)."""
    if session.get(model, ident) is not None:
        raise Conflict(f"{_KINDS.get(model, model.__name__.lower())} {ident!r} already exists")


def add_new(session: Session, row: Identified, what: str) -> Identified:
    """Add a new row and note it for publishing (:meth:`~devices.changes.Changes.note`).

    Raises:
        Conflict: it clashes with a registered row (naming ``what``).
    """
    session.add(row)
    flush_new(session, what)
    changes_of(session).note(row)
    return row


def retire_row(session: Session, model: type[Retirable], ident: str | int) -> Retirable:
    """Mark the row of ``model`` with id ``ident`` retired (a second retirement keeps the first).

    The row is noted for publishing (:meth:`~devices.changes.Changes.note`).

    Raises:
        NotFound: there is none.
    """
    row = get_row(session, model, ident)
    row.retired_at = row.retired_at or utcnow()
    changes_of(session).note(row)
    return row


def active_household(session: Session, household_id: str) -> Household:
    """The household, or :class:`Conflict` if it is retired (nothing may be added to it)."""
    row = get_row(session, Household, household_id)
    if row.retired_at is not None:
        raise Conflict(f"household {household_id!r} is retired")
    return row


def flush_new(session: Session, what: str) -> None:
    """Flush a new row; a clash with a registered one is a :class:`Conflict` naming ``what``."""
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"{what} already exists or clashes with a registered one") from exc


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


# --- care centers ---------------------------------------------------------------------


def create_care_center(
    session: Session,
    care_center_id: str,
    name: str,
    *,
    dongs: Sequence[str] = (),
    duty_phone: str | None = None,
    email: str | None = None,
    webhook_url: str | None = None,
) -> CareCenter:
    """Register a care center.

    Raises:
        InvalidInput: a bad id or an empty name.
        Conflict: the id is taken.
    """
    check_id(care_center_id, "care_center_id")
    if not name.strip():
        raise InvalidInput("name", "a care center needs a name")
    check_free(session, CareCenter, care_center_id)
    row = CareCenter(
        id=care_center_id,
        name=name,
        dongs=list(dongs),
        duty_phone=duty_phone,
        email=email,
        webhook_url=webhook_url,
    )
    return add_new(session, row, f"care center {care_center_id!r}")


def update_care_center(session: Session, care_center_id: str, patch: CenterPatch) -> CareCenter:
    """Change a care center's name, dongs or contact details."""
    row, changes = patched(session, CareCenter, care_center_id, patch)
    not_null(changes, "name", "dongs")
    for key in ("name", "dongs", "duty_phone", "email", "webhook_url"):
        if key in changes:
            setattr(row, key, list(changes[key]) if key == "dongs" else changes[key])
    changes_of(session).note(row)
    return row


def retire_care_center(session: Session, care_center_id: str) -> CareCenter:
    """Retire a care center that has no active households.

    Raises:
        Conflict: it still has active households.
    """
    get_row(session, CareCenter, care_center_id)  # a missing center is NotFound, not Conflict
    active = session.scalar(
        select(Household.id)
        .where(Household.care_center_id == care_center_id, Household.retired_at.is_(None))
        .limit(1)
    )
    if active is not None:
        raise Conflict(f"care center {care_center_id!r} still has active households")
    return retire_row(session, CareCenter, care_center_id)


# --- households -----------------------------------------------------------------------


def _household_settings(row: Household, values: dict[str, Any]) -> None:
    if "inactivity_hours" in values and values["inactivity_hours"] is not None:
        row.inactivity_hours = checked(
            InactivityHours, values["inactivity_hours"], "inactivity_hours")
    if "routine_enabled" in values and values["routine_enabled"] is not None:
        row.routine_enabled = bool(values["routine_enabled"])
    if "checkin_enabled" in values and values["checkin_enabled"] is not None:
        row.checkin_enabled = bool(values["checkin_enabled"])
    if "checkin_schedule" in values:
        schedule = values["checkin_schedule"]
        row.checkin_schedule = (
            checked(CheckinScheduleText, schedule, "checkin_schedule") if schedule else None
        )
    if "quiet_hours" in values:
        quiet = values["quiet_hours"]
        if isinstance(quiet, str):
            quiet = parse_quiet_hours(quiet)
        elif isinstance(quiet, dict):
            quiet = QuietHours.model_validate(quiet)
        row.quiet_start = _hhmm(quiet.start) if quiet else None
        row.quiet_end = _hhmm(quiet.end) if quiet else None
    if "away_periods" in values and values["away_periods"] is not None:
        periods = [
            p if isinstance(p, AwayPeriod) else AwayPeriod.model_validate(p)
            for p in values["away_periods"]
        ]
        for p in periods:
            if p.end <= p.start:
                raise InvalidInput("away_periods", "an away period must end after it starts")
        row.away_periods = [p.model_dump(mode="json", exclude_none=True) for p in periods]
    if "escalation_delays_s" in values and values["escalation_delays_s"] is not None:
        row.escalation_delays_s = checked(
            EscalationDelays, list(values["escalation_delays_s"]), "escalation_delays_s")
    for key in ("dong", "address", "notes"):
        if key in values:
            if key == "dong" and not (values[key] or "").strip():
                raise InvalidInput("dong", "a household needs a dong")
            setattr(row, key, values[key])


def create_household(
    session: Session,
    care_center_id: str,
    dong: str,
    *,
    household_id: str | None = None,
    address: str | None = None,
    inactivity_hours: float = 24.0,
    routine_enabled: bool = True,
    quiet_hours: QuietHours | str | None = None,
    away_periods: Sequence[AwayPeriod | dict[str, Any]] = (),
    escalation_delays_s: Sequence[int] = (900, 900, 1800),
    checkin_enabled: bool = True,
    checkin_schedule: str | None = None,
    notes: str | None = None,
) -> Household:
    """Register a household with its settings.

    Args:
        session: the registry session.
        care_center_id: the center responsible for it.
        dong: its neighbourhood.
        household_id: a pseudonymous id; unset: ``hh-`` and random hex. Never derive it
            from a name, address or phone number.
        address: the street address (personal data; stays in the registry).
        inactivity_hours: the fixed inactivity rule's N.
        routine_enabled: use the routine-aware detector.
        quiet_hours: when silence is expected, ``QuietHours`` or ``"22:00-06:00"``.
        away_periods: registered absences.
        escalation_delays_s: seconds to wait at each contact tier.
        checkin_enabled: ask the care robot before escalating.
        checkin_schedule: when the voice bot calls the resident (``"mon-fri 10:00"``,
            Asia/Seoul); None: no scheduled calls.
        notes: free text for care workers.

    Raises:
        NotFound: no such care center.
        InvalidInput: a bad value, naming the field.
        Conflict: the id is taken.
    """
    center = get_row(session, CareCenter, care_center_id)
    if center.retired_at is not None:
        raise Conflict(f"care center {care_center_id!r} is retired")
    household_id = check_id(household_id, "household_id") if household_id else new_id("hh")
    check_free(session, Household, household_id)
    row = Household(id=household_id, care_center_id=care_center_id, dong=dong)
    _household_settings(
        row,
        {
            "dong": dong,
            "address": address,
            "notes": notes,
            "inactivity_hours": inactivity_hours,
            "routine_enabled": routine_enabled,
            "quiet_hours": quiet_hours,
            "away_periods": list(away_periods),
            "escalation_delays_s": list(escalation_delays_s),
            "checkin_enabled": checkin_enabled,
            "checkin_schedule": checkin_schedule,
        },
    )
    return add_new(session, row, f"household {household_id!r}")


def update_household(session: Session, household_id: str, patch: HouseholdPatch) -> Household:
    """Change a household's settings (only the keys given), or move it to another center."""
    row, changes = patched(session, Household, household_id, patch)
    if changes.get("care_center_id") is not None:
        get_row(session, CareCenter, changes["care_center_id"])
        row.care_center_id = changes["care_center_id"]
    _household_settings(row, changes)
    changes_of(session).note(row)
    return row


def retire_household(session: Session, household_id: str) -> Household:
    """Stop watching a household: it, its gateways and its devices are retired."""
    row = get_row(session, Household, household_id)
    now = utcnow()
    row.retired_at = row.retired_at or now
    for gateway in session.scalars(select(Gateway).where(Gateway.household_id == household_id)):
        if gateway.retired_at is None:
            gateway.retired_at = now
            changes_of(session).note(gateway)
    for device in session.scalars(select(Device).where(Device.household_id == household_id)):
        if device.retired_at is None:
            device.retired_at = now
            changes_of(session).note(device)
    changes_of(session).note(row)
    return row


def ids(rows: Iterable[Any]) -> list[str]:
    """The ids of ``rows``."""
    return [r.id for r in rows]
