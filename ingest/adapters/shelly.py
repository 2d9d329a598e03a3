"""Shelly Gen1 (``shellies/<id>/...``) and Gen2+ (``<prefix>/status/switch:0``, ``/online``).

Gen1 reports energy in watt-minutes and Gen2 in watt-hours; both become kWh.
"""

from __future__ import annotations

import re
from typing import Any

from anbu.events import EventKind, SosCause
from ingest.adapters.common import (
    ONLINE,
    binary_kind,
    boolean,
    ignore_commands,
    number,
    number_text,
    object_of,
    text_of,
    word,
)
from ingest.exceptions import Ignored, Rejected
from ingest.readings import Emergency, Owner, Parsed, Reading

_RELAY = re.compile(r"^relay/\d+$")
_RELAY_POWER = re.compile(r"^relay/\d+/power$")
_RELAY_ENERGY = re.compile(r"^relay/\d+/energy$")
_INPUT_EVENT = re.compile(r"^input_event/\d+$")
_GEN2_SWITCH = re.compile(r"^status/switch:\d+$")
# Sub-topics Shelly devices publish that carry nothing anbu uses.
_UNUSED = re.compile(
    r"^(announce|info|temperature|temperature_f|overtemperature|voltage|loaderror|"
    r"input/\d+|longpush/\d+|relay/\d+/overpower_value|sensor/(temperature|lux|"
    r"illumination|tilt|vibration|charger|error|act_reasons)|events/rpc|status/[a-z0-9_]+(:\d+)?)$"
)


def adapt(suffix: str, payload: bytes, owner: Owner) -> Parsed:
    """Turn one Shelly message into readings."""
    ignore_commands(suffix)
    if suffix == "online":
        return Parsed([Reading(EventKind.AVAILABILITY, word(text_of(payload), "online", ONLINE))])
    if _RELAY_POWER.match(suffix):
        return Parsed([Reading(EventKind.POWER, number_text(text_of(payload), "power"))])
    if _RELAY_ENERGY.match(suffix):
        watt_minutes = number_text(text_of(payload), "energy")
        return Parsed([Reading(EventKind.ENERGY, watt_minutes / 60_000.0)])
    if _RELAY.match(suffix):
        mapping = {"on": 1.0, "off": 0.0, "overpower": 0.0}
        return Parsed([Reading(EventKind.SWITCH, word(text_of(payload), "relay", mapping))])
    if suffix == "sensor/state":
        mapping = {"open": 1.0, "close": 0.0, "closed": 0.0}
        value = word(text_of(payload), "sensor/state", mapping)
        return Parsed([Reading(binary_kind("contact", owner.kind), value)])
    if suffix == "sensor/battery":
        return Parsed([Reading(EventKind.BATTERY, number_text(text_of(payload), "battery"))])
    if suffix == "sensor/motion":
        value = word(text_of(payload), "sensor/motion", {"true": 1.0, "false": 0.0})
        return Parsed([Reading(binary_kind("motion", owner.kind), value)])
    if suffix == "status" and owner.kind in ("motion", "presence"):
        return _motion_status(object_of(payload), owner)
    if _INPUT_EVENT.match(suffix):
        return _input_event(object_of(payload), owner)
    if _GEN2_SWITCH.match(suffix):
        return _gen2_switch(object_of(payload))
    if _UNUSED.match(suffix):
        raise Ignored("unused_topic")
    raise Rejected("unsupported_topic", f"Shelly sub-topic {suffix!r} is not read")


def _motion_status(data: dict[str, Any], owner: Owner) -> Parsed:
    if data.get("motion") is None:
        raise Ignored("no_readings")
    items: list[Reading | Emergency] = [
        Reading(binary_kind("motion", owner.kind), 1.0 if boolean(data["motion"], "motion") else 0)
    ]
    if data.get("bat") is not None:
        items.append(Reading(EventKind.BATTERY, number(data["bat"], "bat")))
    stamp = str(data["timestamp"])[:64] if data.get("timestamp") is not None else None
    # Gen1 "timestamp" is local time expressed as epoch seconds: not a trustworthy UTC time.
    return Parsed(items, None, stamp)


def _input_event(data: dict[str, Any], owner: Owner) -> Parsed:
    event = data.get("event")
    if event is None or event == "":
        raise Ignored("no_readings")
    if not isinstance(event, str):
        raise Rejected("invalid_payload", "event must be text")
    count = data.get("event_cnt")
    if count is not None:
        number(count, "event_cnt")
    item: Reading | Emergency
    if owner.kind == "button":
        item = Emergency(SosCause.BUTTON, event[:200])
    else:
        item = Reading(EventKind.BUTTON, 1.0, event[:200])
    return Parsed([item], None, None if count is None else f"cnt:{count}")


def _gen2_switch(data: dict[str, Any]) -> Parsed:
    items: list[Reading | Emergency] = []
    if data.get("output") is not None:
        items.append(Reading(EventKind.SWITCH, 1.0 if boolean(data["output"], "output") else 0.0))
    if data.get("apower") is not None:
        items.append(Reading(EventKind.POWER, number(data["apower"], "apower")))
    stamp = None
    energy = data.get("aenergy")
    if energy is not None:
        if not isinstance(energy, dict):
            raise Rejected("invalid_payload", "aenergy must be an object")
        if energy.get("total") is not None:
            watt_hours = number(energy["total"], "aenergy.total")
            items.append(Reading(EventKind.ENERGY, watt_hours / 1000.0))
        if energy.get("minute_ts") is not None:
            stamp = f"minute:{energy['minute_ts']}"[:64]
    if not items:
        raise Ignored("no_readings")
    return Parsed(items, None, stamp)
