"""Gateways and devices: register, change, replace, rotate a password, retire.

A device's history (replacements) is kept: a replaced device is retired, never deleted, so
alerts and series keep pointing at a row that exists.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from anbu.mosquitto_auth import hash_password
from anbu.timeutil import utcnow
from devices.changes import changes_of
from devices.exceptions import Conflict, InvalidInput
from devices.models import Device, Gateway
from devices.rules import (
    HeartbeatInterval,
    ReportingInterval,
    aware_utc,
    check_format,
    check_id,
    check_kind,
    check_topic,
    checked,
    new_id,
)
from devices.schemas import DevicePatch, GatewayPatch
from devices.service import (
    active_household,
    add_new,
    check_free,
    flush_new,
    get_row,
    patched,
    retire_row,
)


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
    active_household(session, household_id)
    gateway_id = check_id(gateway_id, "gateway_id") if gateway_id else new_id("gw")
    if gateway_id.lower().startswith("anbu"):
        # MQTT usernames starting with "anbu" are kept for anbu's own service accounts.
        raise InvalidInput("gateway_id", "ids starting with 'anbu' are reserved")
    heartbeat_interval_s = checked(HeartbeatInterval, heartbeat_interval_s,
                                   "heartbeat_interval_s")
    check_free(session, Gateway, gateway_id)
    password = secrets.token_urlsafe(18)
    row = Gateway(
        id=gateway_id,
        household_id=household_id,
        password_hash=hash_password(password),
        heartbeat_interval_s=heartbeat_interval_s,
    )
    return add_new(session, row, f"gateway {gateway_id!r}"), password


def rotate_gateway_password(session: Session, gateway_id: str) -> tuple[Gateway, str]:
    """Give a gateway a new MQTT password (the old one stops working on reload)."""
    row = get_row(session, Gateway, gateway_id)
    if row.retired_at is not None:
        raise Conflict(f"gateway {gateway_id!r} is retired")
    password = secrets.token_urlsafe(18)
    row.password_hash = hash_password(password)
    changes_of(session).note(row)
    return row, password


def update_gateway(session: Session, gateway_id: str, patch: GatewayPatch) -> Gateway:
    """Change a gateway's heartbeat interval."""
    row, changes = patched(session, Gateway, gateway_id, patch)
    if changes.get("heartbeat_interval_s") is not None:
        row.heartbeat_interval_s = checked(
            HeartbeatInterval, changes["heartbeat_interval_s"], "heartbeat_interval_s")
    changes_of(session).note(row)
    return row


def retire_gateway(session: Session, gateway_id: str) -> Gateway:
    """Retire a gateway: its MQTT account is removed on the next rewrite."""
    return retire_row(session, Gateway, gateway_id)


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
    active_household(session, household_id)
    device_id = check_id(device_id, "device_id") if device_id else new_id("dev")
    check_kind(kind)
    check_format(source_format)
    check_topic(mqtt_topic)
    reporting_interval_s = checked(ReportingInterval, reporting_interval_s,
                                   "reporting_interval_s")
    _check_gateway(session, gateway_id, household_id)
    check_free(session, Device, device_id)
    _check_topic_free(session, mqtt_topic)
    installed = aware_utc(installed_at, "installed_at") or utcnow()
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
    return add_new(session, row, f"device {device_id!r}")


def update_device(session: Session, device_id: str, patch: DevicePatch) -> Device:
    """Change a device's room, interval, topic or gateway (kind changes need a replacement)."""
    row, changes = patched(session, Device, device_id, patch)
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
    changes_of(session).note(row)
    flush_new(session, f"device {device_id!r}")
    return row


def retire_device(session: Session, device_id: str) -> Device:
    """Retire a device (it stays in the history)."""
    return retire_row(session, Device, device_id)


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
    old = get_row(session, Device, device_id)
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
    row = get_row(session, Device, device_id)
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
