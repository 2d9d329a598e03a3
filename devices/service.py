"""Registering care centers, households, residents, contacts, gateways, devices and tokens.

The functions work on a SQLAlchemy :class:`Session` and note what they changed in it;
:func:`registry_session` commits, then publishes every changed entity to ``anbu.registry``
and rewrites Mosquitto's password and ACL files when gateways or devices changed::

    with registry_session(settings) as session:
        create_care_center(session, "cc-01", "Mapo Welfare Center", dongs=["Seogyo-dong"])
        household = create_household(session, "cc-01", "Seogyo-dong")
        gateway, password = create_gateway(session, household.id)
        add_device(session, household.id, "motion", "zigbee2mqtt", "zigbee2mqtt/hall_pir")
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, get_args

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from anbu.events import SourceFormat
from anbu.mosquitto_auth import hash_password
from anbu.registry_records import AwayPeriod, DeviceKindName, QuietHours
from anbu.timeutil import to_utc, utcnow
from config import Settings
from devices.auth import Role, hash_token, new_token
from devices.db import init_db, session_factory
from devices.exceptions import Conflict, InvalidInput, NotFound
from devices.models import (
    ApiToken,
    CareCenter,
    Contact,
    Device,
    Gateway,
    Household,
    Resident,
)
from devices.rules import (
    EscalationDelays,
    HeartbeatInterval,
    InactivityHours,
    ReportingInterval,
    checked,
)

log = logging.getLogger(__name__)

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ID_RULE = "1-64 characters: letters, digits, '.', '_', '-' (starting with a letter or digit)"
DEVICE_KINDS: tuple[str, ...] = get_args(DeviceKindName)
SOURCE_FORMATS: tuple[str, ...] = tuple(f.value for f in SourceFormat)
ADMIN_TOKEN_ID = "admin-bootstrap"


@dataclass(slots=True)
class Changes:
    """What a session changed, for publishing after commit."""

    centers: set[str] = field(default_factory=set)
    households: set[str] = field(default_factory=set)
    gateways: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)

    @property
    def mqtt(self) -> bool:
        """Whether Mosquitto's accounts or ACLs may have changed."""
        return bool(self.gateways or self.devices)

    def __bool__(self) -> bool:
        return bool(self.centers or self.households or self.gateways or self.devices)


def changes_of(session: Session) -> Changes:
    """The changes noted in ``session`` so far."""
    found = session.info.get("anbu_changes")
    if not isinstance(found, Changes):
        found = Changes()
        session.info["anbu_changes"] = found
    return found


# --- validation helpers ---------------------------------------------------------------


def check_id(value: str, field_name: str) -> str:
    """Check an id (household, device, gateway, center)."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise InvalidInput(field_name, f"{value!r} is not a valid id: {ID_RULE}")
    return value


def new_id(prefix: str) -> str:
    """A random pseudonymous id (never derived from personal data)."""
    return f"{prefix}-{secrets.token_hex(5)}"


def check_topic(topic: str, field_name: str = "mqtt_topic") -> str:
    """Check a device's base MQTT topic (no wildcards, no '$', no spaces)."""
    if not isinstance(topic, str) or not topic.strip():
        raise InvalidInput(field_name, "an MQTT topic is required")
    if len(topic) > 200:
        raise InvalidInput(field_name, "longer than 200 characters")
    if any(c in topic for c in "+#\x00") or any(c.isspace() for c in topic):
        raise InvalidInput(field_name, f"{topic!r}: no wildcards (+ #) or spaces in a base topic")
    if topic.startswith(("$", "/")) or topic.endswith("/") or "//" in topic:
        raise InvalidInput(field_name, f"{topic!r}: no leading '$' or '/', no empty levels")
    return topic


def check_kind(kind: str) -> str:
    """Check a device kind."""
    if kind not in DEVICE_KINDS:
        raise InvalidInput("kind", f"{kind!r} is not one of {', '.join(DEVICE_KINDS)}")
    return kind


def check_format(source_format: str) -> str:
    """Check a device's payload format."""
    if source_format not in SOURCE_FORMATS:
        raise InvalidInput(
            "source_format", f"{source_format!r} is not one of {', '.join(SOURCE_FORMATS)}"
        )
    return source_format


def _required(changes: dict[str, Any], *keys: str) -> None:
    """Refuse ``null`` for fields that cannot be empty (absent means unchanged)."""
    for key in keys:
        if key in changes and changes[key] is None:
            raise InvalidInput(key, "cannot be null; leave it out to keep the current value")


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _aware(moment: datetime | None, field_name: str) -> datetime | None:
    if moment is None:
        return None
    try:
        return to_utc(moment)
    except ValueError:
        raise InvalidInput(field_name, "a time zone is required (e.g. +09:00)") from None


def parse_quiet_hours(text: str) -> QuietHours:
    """Parse ``"22:00-06:00"``."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise InvalidInput("quiet_hours", f"{text!r}: expected HH:MM-HH:MM, e.g. 22:00-06:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise InvalidInput("quiet_hours", f"{text!r}: not a time of day")
    return QuietHours(start=time(h1, m1), end=time(h2, m2))


# --- loading with visibility ----------------------------------------------------------


def _get(session: Session, model: Any, kind: str, ident: str | int) -> Any:
    row = session.get(model, ident)
    if row is None:
        raise NotFound(kind, str(ident))
    return row


def get_center(session: Session, care_center_id: str) -> CareCenter:
    """The care center, or :class:`NotFound`."""
    center: CareCenter = _get(session, CareCenter, "care center", care_center_id)
    return center


def get_household(session: Session, household_id: str) -> Household:
    """The household, or :class:`NotFound`."""
    household: Household = _get(session, Household, "household", household_id)
    return household


def get_gateway(session: Session, gateway_id: str) -> Gateway:
    """The gateway, or :class:`NotFound`."""
    gateway: Gateway = _get(session, Gateway, "gateway", gateway_id)
    return gateway


def get_device(session: Session, device_id: str) -> Device:
    """The device, or :class:`NotFound`."""
    device: Device = _get(session, Device, "device", device_id)
    return device


def _active_household(session: Session, household_id: str) -> Household:
    row = get_household(session, household_id)
    if row.retired_at is not None:
        raise Conflict(f"household {household_id!r} is retired")
    return row


def _flush(session: Session, what: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"{what} already exists or clashes with a registered one") from exc


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
    if session.get(CareCenter, care_center_id) is not None:
        raise Conflict(f"care center {care_center_id!r} already exists")
    row = CareCenter(
        id=care_center_id,
        name=name,
        dongs=list(dongs),
        duty_phone=duty_phone,
        email=email,
        webhook_url=webhook_url,
    )
    session.add(row)
    _flush(session, f"care center {care_center_id!r}")
    changes_of(session).centers.add(row.id)
    return row


def update_care_center(session: Session, care_center_id: str, **changes: Any) -> CareCenter:
    """Change a care center's name, dongs or contact details."""
    row = get_center(session, care_center_id)
    _required(changes, "name", "dongs")
    for key in ("name", "dongs", "duty_phone", "email", "webhook_url"):
        if key in changes:
            setattr(row, key, list(changes[key]) if key == "dongs" else changes[key])
    changes_of(session).centers.add(row.id)
    return row


def retire_care_center(session: Session, care_center_id: str) -> CareCenter:
    """Retire a care center that has no active households.

    Raises:
        Conflict: it still has active households.
    """
    row = get_center(session, care_center_id)
    active = session.scalar(
        select(Household.id)
        .where(Household.care_center_id == care_center_id, Household.retired_at.is_(None))
        .limit(1)
    )
    if active is not None:
        raise Conflict(f"care center {care_center_id!r} still has active households")
    row.retired_at = row.retired_at or utcnow()
    changes_of(session).centers.add(row.id)
    return row


# --- households -----------------------------------------------------------------------


def _household_settings(row: Household, values: dict[str, Any]) -> None:
    if "inactivity_hours" in values and values["inactivity_hours"] is not None:
        row.inactivity_hours = checked(
            InactivityHours, values["inactivity_hours"], "inactivity_hours")
    if "routine_enabled" in values and values["routine_enabled"] is not None:
        row.routine_enabled = bool(values["routine_enabled"])
    if "checkin_enabled" in values and values["checkin_enabled"] is not None:
        row.checkin_enabled = bool(values["checkin_enabled"])
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
        notes: free text for care workers.

    Raises:
        NotFound: no such care center.
        InvalidInput: a bad value, naming the field.
        Conflict: the id is taken.
    """
    center = get_center(session, care_center_id)
    if center.retired_at is not None:
        raise Conflict(f"care center {care_center_id!r} is retired")
    household_id = check_id(household_id, "household_id") if household_id else new_id("hh")
    if session.get(Household, household_id) is not None:
        raise Conflict(f"household {household_id!r} already exists")
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
        },
    )
    session.add(row)
    _flush(session, f"household {household_id!r}")
    changes_of(session).households.add(row.id)
    return row


def update_household(session: Session, household_id: str, **changes: Any) -> Household:
    """Change a household's settings (only the keys given), or move it to another center."""
    row = get_household(session, household_id)
    if changes.get("care_center_id") is not None:
        get_center(session, changes["care_center_id"])
        row.care_center_id = changes["care_center_id"]
    _household_settings(row, changes)
    changes_of(session).households.add(row.id)
    return row


def retire_household(session: Session, household_id: str) -> Household:
    """Stop watching a household: it, its gateways and its devices are retired."""
    row = get_household(session, household_id)
    now = utcnow()
    row.retired_at = row.retired_at or now
    for gateway in session.scalars(select(Gateway).where(Gateway.household_id == household_id)):
        if gateway.retired_at is None:
            gateway.retired_at = now
            changes_of(session).gateways.add(gateway.id)
    for device in session.scalars(select(Device).where(Device.household_id == household_id)):
        if device.retired_at is None:
            device.retired_at = now
            changes_of(session).devices.add(device.id)
    changes_of(session).households.add(row.id)
    return row


# --- residents and contacts -----------------------------------------------------------


def add_resident(
    session: Session,
    household_id: str,
    name: str,
    *,
    phone: str | None = None,
    birth_date: date | None = None,
    consent: bool = False,
) -> Resident:
    """Record the person living in a household (personal data: kept only here)."""
    _active_household(session, household_id)
    if not name.strip():
        raise InvalidInput("name", "a resident needs a name")
    row = Resident(
        household_id=household_id,
        name=name,
        phone=phone,
        birth_date=birth_date,
        consent=consent,
        consent_at=utcnow() if consent else None,
    )
    session.add(row)
    session.flush()
    return row


def update_resident(session: Session, resident_id: int, **changes: Any) -> Resident:
    """Change a resident's details (only the keys given)."""
    row: Resident = _get(session, Resident, "resident", resident_id)
    _required(changes, "name")
    for key in ("name", "phone", "birth_date"):
        if key in changes:
            setattr(row, key, changes[key])
    if "consent" in changes and changes["consent"] is not None:
        if changes["consent"] and not row.consent:
            row.consent_at = utcnow()
        row.consent = bool(changes["consent"])
    return row


def add_contact(
    session: Session,
    household_id: str,
    tier: int,
    name: str,
    *,
    relation: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> Contact:
    """Add an escalation contact at ``tier`` (1 is called first)."""
    _active_household(session, household_id)
    if not 1 <= tier <= 10:
        raise InvalidInput("tier", "a tier is 1 to 10")
    if not name.strip():
        raise InvalidInput("name", "a contact needs a name")
    if not phone and not email:
        raise InvalidInput("phone", "a contact needs a phone number or an e-mail address")
    row = Contact(
        household_id=household_id, tier=tier, name=name, relation=relation, phone=phone, email=email
    )
    session.add(row)
    session.flush()
    changes_of(session).households.add(household_id)
    return row


def update_contact(session: Session, contact_id: int, **changes: Any) -> Contact:
    """Change a contact (only the keys given)."""
    row: Contact = _get(session, Contact, "contact", contact_id)
    if changes.get("tier") is not None and not 1 <= int(changes["tier"]) <= 10:
        raise InvalidInput("tier", "a tier is 1 to 10")
    for key in ("tier", "name", "relation", "phone", "email"):
        if key in changes and (changes[key] is not None or key not in ("tier", "name")):
            setattr(row, key, changes[key])
    changes_of(session).households.add(row.household_id)
    return row


def retire_contact(session: Session, contact_id: int) -> Contact:
    """Remove a contact from escalation."""
    row: Contact = _get(session, Contact, "contact", contact_id)
    row.retired_at = row.retired_at or utcnow()
    changes_of(session).households.add(row.household_id)
    return row


def retire_resident(session: Session, resident_id: int) -> Resident:
    """Mark a resident as no longer living there."""
    row: Resident = _get(session, Resident, "resident", resident_id)
    row.retired_at = row.retired_at or utcnow()
    return row


# --- gateways -------------------------------------------------------------------------


def create_gateway(
    session: Session,
    household_id: str,
    *,
    gateway_id: str | None = None,
    heartbeat_interval_s: int = 60,
) -> tuple[Gateway, str]:
    """Register a gateway and create its MQTT account (username = gateway id).

    Returns:
        The gateway and its MQTT password, which is shown this once and stored hashed.
    """
    _active_household(session, household_id)
    gateway_id = check_id(gateway_id, "gateway_id") if gateway_id else new_id("gw")
    if gateway_id.lower().startswith("anbu"):
        # MQTT usernames starting with "anbu" are kept for anbu's own service accounts.
        raise InvalidInput("gateway_id", "ids starting with 'anbu' are reserved")
    heartbeat_interval_s = checked(HeartbeatInterval, heartbeat_interval_s,
                                   "heartbeat_interval_s")
    if session.get(Gateway, gateway_id) is not None:
        raise Conflict(f"gateway {gateway_id!r} already exists")
    password = secrets.token_urlsafe(18)
    row = Gateway(
        id=gateway_id,
        household_id=household_id,
        password_hash=hash_password(password),
        heartbeat_interval_s=heartbeat_interval_s,
    )
    session.add(row)
    _flush(session, f"gateway {gateway_id!r}")
    changes_of(session).gateways.add(row.id)
    return row, password


def rotate_gateway_password(session: Session, gateway_id: str) -> tuple[Gateway, str]:
    """Give a gateway a new MQTT password (the old one stops working on reload)."""
    row = get_gateway(session, gateway_id)
    if row.retired_at is not None:
        raise Conflict(f"gateway {gateway_id!r} is retired")
    password = secrets.token_urlsafe(18)
    row.password_hash = hash_password(password)
    changes_of(session).gateways.add(row.id)
    return row, password


def update_gateway(session: Session, gateway_id: str, **changes: Any) -> Gateway:
    """Change a gateway's heartbeat interval."""
    row = get_gateway(session, gateway_id)
    if changes.get("heartbeat_interval_s") is not None:
        row.heartbeat_interval_s = checked(
            HeartbeatInterval, changes["heartbeat_interval_s"], "heartbeat_interval_s")
    changes_of(session).gateways.add(row.id)
    return row


def retire_gateway(session: Session, gateway_id: str) -> Gateway:
    """Retire a gateway: its MQTT account is removed on the next rewrite."""
    row = get_gateway(session, gateway_id)
    row.retired_at = row.retired_at or utcnow()
    changes_of(session).gateways.add(row.id)
    return row


# --- devices --------------------------------------------------------------------------


def _check_topic_free(session: Session, topic: str, *, ignore: str | None = None) -> None:
    clash = session.scalar(
        select(Device.id).where(Device.mqtt_topic == topic, Device.retired_at.is_(None))
    )
    if clash is not None and clash != ignore:
        raise Conflict(f"MQTT topic {topic!r} is already used by active device {clash!r}")


def _check_gateway(session: Session, gateway_id: str | None, household_id: str) -> None:
    if gateway_id is None:
        return
    gateway = session.get(Gateway, gateway_id)
    if gateway is None or gateway.household_id != household_id or gateway.retired_at:
        raise InvalidInput("gateway_id", f"{gateway_id!r} is not an active gateway of this home")


def add_device(
    session: Session,
    household_id: str,
    kind: str,
    source_format: str,
    mqtt_topic: str,
    *,
    device_id: str | None = None,
    gateway_id: str | None = None,
    room: str | None = None,
    reporting_interval_s: int = 3600,
    installed_at: datetime | None = None,
    replaces: str | None = None,
) -> Device:
    """Register a device at its base MQTT topic.

    Raises:
        NotFound: no such household.
        InvalidInput: a bad kind, format, topic or interval, naming the field.
        Conflict: the id is taken, or an active device already uses the topic.
    """
    _active_household(session, household_id)
    device_id = check_id(device_id, "device_id") if device_id else new_id("dev")
    check_kind(kind)
    check_format(source_format)
    check_topic(mqtt_topic)
    reporting_interval_s = checked(ReportingInterval, reporting_interval_s,
                                   "reporting_interval_s")
    _check_gateway(session, gateway_id, household_id)
    if session.get(Device, device_id) is not None:
        raise Conflict(f"device {device_id!r} already exists")
    _check_topic_free(session, mqtt_topic)
    installed = _aware(installed_at, "installed_at") or utcnow()
    if installed > utcnow() + timedelta(minutes=5):
        # A future installation time would hide a device that never reports.
        raise InvalidInput("installed_at", "cannot be in the future")
    row = Device(
        id=device_id,
        household_id=household_id,
        gateway_id=gateway_id,
        kind=kind,
        source_format=source_format,
        mqtt_topic=mqtt_topic,
        room=room,
        reporting_interval_s=int(reporting_interval_s),
        installed_at=installed,
        replaces=replaces,
    )
    session.add(row)
    _flush(session, f"device {device_id!r}")
    changes_of(session).devices.add(row.id)
    return row


def update_device(session: Session, device_id: str, **changes: Any) -> Device:
    """Change a device's room, interval, topic or gateway (kind changes need a replacement)."""
    row = get_device(session, device_id)
    if row.retired_at is not None:
        raise Conflict(f"device {device_id!r} is retired")
    if changes.get("mqtt_topic") is not None and changes["mqtt_topic"] != row.mqtt_topic:
        check_topic(changes["mqtt_topic"])
        _check_topic_free(session, changes["mqtt_topic"], ignore=row.id)
        row.mqtt_topic = changes["mqtt_topic"]
    if changes.get("reporting_interval_s") is not None:
        row.reporting_interval_s = checked(
            ReportingInterval, changes["reporting_interval_s"], "reporting_interval_s")
    if "room" in changes:
        row.room = changes["room"]
    if "gateway_id" in changes:
        _check_gateway(session, changes["gateway_id"], row.household_id)
        row.gateway_id = changes["gateway_id"]
    changes_of(session).devices.add(row.id)
    _flush(session, f"device {device_id!r}")
    return row


def retire_device(session: Session, device_id: str) -> Device:
    """Retire a device (it stays in the history)."""
    row = get_device(session, device_id)
    row.retired_at = row.retired_at or utcnow()
    changes_of(session).devices.add(row.id)
    return row


def replace_device(
    session: Session,
    device_id: str,
    *,
    new_device_id: str | None = None,
    kind: str | None = None,
    source_format: str | None = None,
    mqtt_topic: str | None = None,
    room: str | None = None,
    reporting_interval_s: int | None = None,
    gateway_id: str | None = None,
) -> Device:
    """Swap a device for a new one, keeping the old one in the history.

    The old device is retired and points to its replacement (``replaced_by``); the new one
    points back (``replaces``) and takes over the topic, room and interval unless given.

    Returns:
        The new device.
    """
    old = get_device(session, device_id)
    if old.retired_at is not None:
        raise Conflict(f"device {device_id!r} is retired; replace its successor instead")
    old.retired_at = utcnow()
    session.flush()  # frees the old topic for the new device
    new = add_device(
        session,
        old.household_id,
        kind or old.kind,
        source_format or old.source_format,
        mqtt_topic or old.mqtt_topic,
        device_id=new_device_id,
        gateway_id=gateway_id if gateway_id is not None else old.gateway_id,
        room=room if room is not None else old.room,
        reporting_interval_s=reporting_interval_s or old.reporting_interval_s,
        replaces=old.id,
    )
    old.replaced_by = new.id
    changes_of(session).devices.update({old.id, new.id})
    return new


def device_history(session: Session, device_id: str) -> list[Device]:
    """The chain of devices that held this place, oldest first."""
    row = get_device(session, device_id)
    chain = [row]
    seen = {row.id}
    while chain[0].replaces and chain[0].replaces not in seen:
        previous = session.get(Device, chain[0].replaces)
        if previous is None:
            break
        chain.insert(0, previous)
        seen.add(previous.id)
    while chain[-1].replaced_by and chain[-1].replaced_by not in seen:
        following = session.get(Device, chain[-1].replaced_by)
        if following is None:
            break
        chain.append(following)
        seen.add(following.id)
    return chain


# --- tokens ---------------------------------------------------------------------------


def create_token(
    session: Session, role: Role | str, *, name: str, care_center_id: str | None = None
) -> tuple[ApiToken, str]:
    """Create an API token.

    Returns:
        The stored token row and the token itself, shown this once (only its hash is kept).

    Raises:
        InvalidInput: an unknown role, or a staff token without a care center.
        NotFound: no such care center.
    """
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(Role)}") from None
    if role in (Role.STAFF, Role.LEAD) and not care_center_id:
        raise InvalidInput("care_center_id", "a staff token belongs to one care center")
    if role in (Role.ADMIN, Role.OPERATOR) and care_center_id:
        raise InvalidInput("care_center_id", f"an {role} token covers every center")
    if care_center_id:
        get_center(session, care_center_id)
    token = new_token()
    row = ApiToken(
        id=new_id("tok"),
        token_hash=hash_token(token),
        role=role.value,
        care_center_id=care_center_id,
        name=name or role.value,
    )
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoke a token; it stops working at once."""
    row: ApiToken = _get(session, ApiToken, "token", token_id)
    row.revoked_at = row.revoked_at or utcnow()
    return row


def ensure_admin_token(session: Session, token: str) -> None:
    """Make the bootstrap admin token (``settings.admin_token()``) valid, replacing an old one."""
    row = session.get(ApiToken, ADMIN_TOKEN_ID)
    digest = hash_token(token)
    if row is None:
        session.add(
            ApiToken(id=ADMIN_TOKEN_ID, token_hash=digest, role=Role.ADMIN.value, name="bootstrap")
        )
    else:
        row.token_hash = digest
        row.role = Role.ADMIN.value
        row.revoked_at = None
    session.flush()


# --- sessions with side effects -------------------------------------------------------


@contextmanager
def registry_session(
    settings: Settings, *, publish: bool = True, mqtt: bool = True
) -> Iterator[Session]:
    """A session that commits at the end, then publishes and rewrites Mosquitto's files.

    Args:
        settings: where the database, Kafka and Mosquitto's files are.
        publish: publish changed entities to ``anbu.registry`` after commit.
        mqtt: rewrite Mosquitto's password/ACL files (and reload it) if gateways or
            devices changed.

    A failure to publish is logged and left to the next snapshot: the database is the truth.
    """
    engine = init_db(settings)
    with session_factory(engine)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        changes = changes_of(session)
    apply_changes(settings, changes, publish=publish, mqtt=mqtt)


def apply_changes(
    settings: Settings, changes: Changes, *, publish: bool = True, mqtt: bool = True
) -> None:
    """Publish ``changes`` and rewrite Mosquitto's files (after a commit)."""
    if not changes:
        return
    engine = init_db(settings)
    if mqtt and changes.mqtt:
        from devices.mqtt_accounts import sync_mosquitto

        sync_mosquitto(settings, engine)
    if publish:
        from devices.publisher import publish_changes

        publish_changes(settings, engine, changes)


def ids(rows: Iterable[Any]) -> list[str]:
    """The ids of ``rows``."""
    return [r.id for r in rows]
