"""Zigbee2MQTT: ``zigbee2mqtt/<friendly_name>`` state objects and ``<name>/availability``.

A Zigbee2MQTT state message carries every exposed property of the device at once; each
property anbu uses becomes one reading. Careful: ``contact: true`` means the contact is
CLOSED (magnet near), which is door value 0.
"""

from __future__ import annotations

from typing import Any

from anbu.events import EventKind, SosCause
from ingest.adapters.common import (
    ON_OFF,
    binary_kind,
    boolean,
    device_time,
    ignore_commands,
    number,
    object_of,
    text_of,
    word,
)
from ingest.exceptions import Ignored, Rejected
from ingest.readings import Emergency, Owner, Parsed, Reading

_NUMERIC = (
    ("power", EventKind.POWER),
    ("energy", EventKind.ENERGY),
    ("battery", EventKind.BATTERY),
    ("linkquality", EventKind.LINKQUALITY),
)


def adapt(suffix: str, payload: bytes, owner: Owner) -> Parsed:
    """Turn one Zigbee2MQTT message into readings."""
    ignore_commands(suffix)
    if suffix == "availability":
        return _availability(payload)
    if suffix:
        raise Rejected("unsupported_topic", f"Zigbee2MQTT sub-topic {suffix!r} is not read")
    return _state(object_of(payload), owner)


def _availability(payload: bytes) -> Parsed:
    text = text_of(payload)
    if text.startswith("{"):
        state = object_of(payload).get("state")
        if not isinstance(state, str):
            raise Rejected("invalid_payload", "availability object needs a 'state' string")
        text = state
    value = word(text, "availability", {"online": 1.0, "offline": 0.0})
    return Parsed([Reading(EventKind.AVAILABILITY, value)])


def _state(data: dict[str, Any], owner: Owner) -> Parsed:
    items: list[Reading | Emergency] = []
    for field in ("occupancy", "presence"):
        if data.get(field) is not None:
            kind = binary_kind(field, owner.kind)
            if all(item.kind != kind for item in items if isinstance(item, Reading)):
                items.append(Reading(kind, 1.0 if boolean(data[field], field) else 0.0))
    if data.get("contact") is not None:
        closed = boolean(data["contact"], "contact")
        items.append(Reading(binary_kind("contact", owner.kind), 0.0 if closed else 1.0))
    if data.get("state") is not None:
        state = data["state"]
        if not isinstance(state, str):
            raise Rejected("invalid_payload", "state must be 'ON' or 'OFF'")
        items.append(Reading(EventKind.SWITCH, word(state, "state", ON_OFF)))
    for field, kind in _NUMERIC:
        if data.get(field) is not None:
            items.append(Reading(kind, number(data[field], field)))
    action = data.get("action")
    if action is not None and action != "":
        if not isinstance(action, str):
            raise Rejected("invalid_payload", "action must be text")
        detail = action[:200]
        if owner.kind == "button":
            # Any press of a registered emergency button is a call for help.
            items.append(Emergency(SosCause.BUTTON, detail))
        else:
            items.append(Reading(EventKind.BUTTON, 1.0, detail))
    when, stamp = (None, None)
    if data.get("last_seen") is not None:
        when, stamp = device_time(data["last_seen"], "last_seen")
    if not items:
        raise Ignored("no_readings")
    return Parsed(items, when, stamp)
