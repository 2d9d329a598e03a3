"""Tasmota: ``tele/<topic>/SENSOR`` (ENERGY), ``tele/<topic>/STATE`` (POWER) and ``LWT``.

The registered base topic is ``tele/<topic>``. Tasmota's ``Time`` is local time without an
offset, so it is not trusted as event time; it only makes the idempotency key specific.
"""

from __future__ import annotations

from typing import Any

from anbu.events import EventKind
from ingest.adapters.common import (
    ON_OFF,
    device_time,
    ignore_commands,
    number,
    object_of,
    text_of,
    word,
)
from ingest.exceptions import Ignored, Rejected
from ingest.readings import Emergency, Owner, Parsed, Reading


def adapt(suffix: str, payload: bytes, owner: Owner) -> Parsed:
    """Turn one Tasmota message into readings."""
    ignore_commands(suffix)
    if suffix == "LWT":
        value = word(text_of(payload), "LWT", {"online": 1.0, "offline": 0.0})
        return Parsed([Reading(EventKind.AVAILABILITY, value)])
    if suffix == "SENSOR":
        data = object_of(payload)
        return _stamped(data, _energy(data))
    if suffix == "STATE":
        data = object_of(payload)
        return _stamped(data, _power_state(data))
    raise Rejected("unsupported_topic", f"Tasmota sub-topic {suffix!r} is not read")


def _energy(data: dict[str, Any]) -> list[Reading | Emergency]:
    energy = data.get("ENERGY")
    if energy is None:
        raise Ignored("no_readings")
    if not isinstance(energy, dict):
        raise Rejected("invalid_payload", "ENERGY must be an object")
    items: list[Reading | Emergency] = []
    if energy.get("Power") is not None:
        items.append(Reading(EventKind.POWER, _total(energy["Power"], "ENERGY.Power")))
    if energy.get("Total") is not None:
        items.append(Reading(EventKind.ENERGY, number(energy["Total"], "ENERGY.Total")))
    if not items:
        raise Ignored("no_readings")
    return items


def _total(value: Any, name: str) -> float:
    # Multi-channel devices report a list, one value per channel: the home's use is the sum.
    if isinstance(value, list):
        if not value:
            raise Rejected("invalid_payload", f"{name} is an empty list")
        return sum(number(v, name) for v in value)
    return number(value, name)


def _power_state(data: dict[str, Any]) -> list[Reading | Emergency]:
    state = data.get("POWER", data.get("POWER1"))
    if state is None:
        raise Ignored("no_readings")
    if not isinstance(state, str):
        raise Rejected("invalid_payload", "POWER must be 'ON' or 'OFF'")
    return [Reading(EventKind.SWITCH, word(state, "POWER", ON_OFF))]


def _stamped(data: dict[str, Any], items: list[Reading | Emergency]) -> Parsed:
    if data.get("Time") is None:
        return Parsed(items)
    when, stamp = device_time(data["Time"], "Time")
    return Parsed(items, when, stamp)
