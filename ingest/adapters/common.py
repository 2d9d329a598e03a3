"""Parsing helpers shared by the adapters; each raises :class:`Rejected` with a reason."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson

from anbu.events import EventKind
from anbu.registry_records import DeviceKindName
from anbu.timeutil import from_epoch, to_utc
from ingest.exceptions import Ignored, Rejected

COMMAND_LEVELS = frozenset({"set", "get", "command", "rpc"})
"""Last topic levels that carry commands *to* devices, not readings from them."""


def ignore_commands(suffix: str) -> None:
    """Ignore command topics (``.../set``, ``<robot>/command``): they are not readings."""
    if suffix.rpartition("/")[2] in COMMAND_LEVELS:
        raise Ignored("command")


def text_of(payload: bytes) -> str:
    """Decode a plain-text payload (``online``, ``5.43``)."""
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Rejected("not_utf8", "payload is not UTF-8 text") from None


def json_of(payload: bytes) -> Any:
    """Parse a JSON payload (strict RFC 8259: no NaN, no lone surrogates)."""
    try:
        # orjson: parsing was a fifth of the bridge's time per message with the json module.
        return orjson.loads(payload)
    except (orjson.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError):
        raise Rejected("not_json", "payload is not valid JSON") from None


def object_of(payload: bytes) -> dict[str, Any]:
    """Parse a payload that must be a JSON object."""
    data = json_of(payload)
    if not isinstance(data, dict):
        raise Rejected("invalid_payload", f"expected a JSON object, got {type(data).__name__}")
    return data


def number(value: Any, name: str) -> float:
    """A finite JSON number (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("invalid_payload", f"{name} must be a number, got {_short(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise Rejected("invalid_payload", f"{name} must be finite")
    return result


def number_text(text: str, name: str) -> float:
    """A number sent as plain text (Shelly Gen1 ``relay/0/power``)."""
    try:
        result = float(text)
    except ValueError:
        raise Rejected("invalid_payload", f"{name} must be a number, got {_short(text)}") from None
    if not math.isfinite(result):
        raise Rejected("invalid_payload", f"{name} must be finite")
    return result


def boolean(value: Any, name: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise Rejected("invalid_payload", f"{name} must be true or false, got {_short(value)}")
    return value


def word(text: str, name: str, mapping: dict[str, float]) -> float:
    """Map a word (``ON``, ``online``, ``open``) to its value, case-insensitively."""
    try:
        return mapping[text.strip().strip('"').lower()]
    except KeyError:
        allowed = ", ".join(sorted(mapping))
        raise Rejected(
            "invalid_payload", f"{name} must be one of {allowed}, got {_short(text)}"
        ) from None


ON_OFF = {"on": 1.0, "off": 0.0}
ONLINE = {"online": 1.0, "offline": 0.0, "true": 1.0, "false": 0.0}


def device_time(value: Any, name: str) -> tuple[datetime | None, str]:
    """Parse a device timestamp: ISO 8601 or epoch seconds (milliseconds if very large).

    Returns:
        The aware time (None when it has no timezone, so it cannot be trusted as time)
        and the raw value as text, for the idempotency key.
    """
    stamp = str(value)[:64]
    if isinstance(value, bool):
        raise Rejected("invalid_payload", f"{name} must be a time, got {_short(value)}")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise Rejected("invalid_payload", f"{name} must be finite")
        if seconds > 1e11:  # Zigbee2MQTT's "epoch" last_seen is in milliseconds
            seconds /= 1000.0
        try:
            return from_epoch(seconds), stamp
        except (OverflowError, OSError, ValueError):
            raise Rejected("invalid_payload", f"{name} is out of range: {stamp}") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Rejected("invalid_payload", f"{name} is not ISO 8601: {_short(value)}") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return None, stamp
        try:
            return to_utc(parsed), stamp
        except (OverflowError, ValueError):
            raise Rejected("invalid_payload", f"{name} is out of range: {stamp}") from None
    raise Rejected("invalid_payload", f"{name} must be a time, got {_short(value)}")


def binary_kind(field: str, registered: DeviceKindName) -> EventKind:
    """The event kind of a binary sensor field, refined by the registered device kind.

    ``occupancy`` of a device registered as ``presence`` (a bed sensor) is presence; a
    ``contact`` of the registered entrance ``door`` is a door event.
    """
    if field == "contact":
        return EventKind.DOOR if registered == "door" else EventKind.CONTACT
    if registered == "presence":
        return EventKind.PRESENCE
    if registered == "motion":
        return EventKind.MOTION
    return EventKind.PRESENCE if field == "presence" else EventKind.MOTION


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
