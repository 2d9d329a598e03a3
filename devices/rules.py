"""The registry's field rules, each written once.

The API's request bodies (:mod:`devices.schemas`), the service functions the CLI calls
(:mod:`devices.service`) and the CSV import (:mod:`devices.csv_import`) all take their limits
from here, so a value one of them accepts is never refused, nor let through, by another.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, time
from functools import cache
from typing import Annotated, Any, TypeVar, get_args

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from anbu.events import SourceFormat
from anbu.registry_records import DeviceKindName, QuietHours
from anbu.timeutil import to_utc
from devices.exceptions import InvalidInput

ID_MAX = 64
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # 1 to ID_MAX characters
ID_RE = re.compile(ID_PATTERN)
ID_RULE = "1-64 characters: letters, digits, '.', '_', '-' (starting with a letter or digit)"
DEVICE_KINDS: tuple[str, ...] = get_args(DeviceKindName)
SOURCE_FORMATS: tuple[str, ...] = tuple(f.value for f in SourceFormat)
TIER_MAX = 10
INACTIVITY_HOURS_MAX = 24 * 14
DELAY_MAX_S = 7 * 86400
DELAYS_MAX = 10
HEARTBEAT_MAX_S = 86400
REPORTING_MAX_S = 7 * 86400

_Body = TypeVar("_Body", bound=BaseModel)
TEXT_MAX = 200
SHORT_MAX = 100  # dong, room, relation: the database's column width

InactivityHours = Annotated[float, Field(gt=0, le=INACTIVITY_HOURS_MAX, allow_inf_nan=False)]
"""The fixed inactivity rule's N, in hours."""
Delay = Annotated[int, Field(ge=0, le=DELAY_MAX_S)]
"""Seconds to wait at one contact tier before the next."""
EscalationDelays = Annotated[list[Delay], Field(min_length=1, max_length=DELAYS_MAX)]
"""One delay per contact tier."""
HeartbeatInterval = Annotated[int, Field(ge=1, le=HEARTBEAT_MAX_S)]
"""A gateway's heartbeat interval, seconds."""
ReportingInterval = Annotated[int, Field(ge=1, le=REPORTING_MAX_S)]
"""How often a device reports at least, seconds."""
Tier = Annotated[int, Field(ge=1, le=TIER_MAX)]
"""An escalation contact's tier: 1 is called first."""


@cache
def _adapter(rule: Any) -> TypeAdapter[Any]:
    return TypeAdapter(rule)


def checked(rule: Any, value: Any, field_name: str) -> Any:
    """``value`` validated by ``rule`` (one of the types above).

    Raises:
        InvalidInput: the value breaks the rule (the message says which way).
    """
    try:
        return _adapter(rule).validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(field_name, problem(exc.errors()[0])) from None


def as_request(model: type[_Body], **values: Any) -> _Body:
    """``values`` checked as the API's request body ``model`` checks them (for the CLI).

    Raises:
        InvalidInput: the first problem, naming its field.
    """
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidInput(".".join(str(p) for p in error["loc"]) or "body",
                           problem(error)) from None


def problem(error: Any) -> str:
    """A pydantic error as a reason, with the bad value when it is short text."""
    value = error.get("input")
    shown = f"{value!r}: " if isinstance(value, str) and len(value) <= 64 else ""
    return shown + str(error["msg"])


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


def not_null(changes: dict[str, Any], *keys: str) -> None:
    """Refuse ``null`` for fields that cannot be empty (absent means unchanged)."""
    for key in keys:
        if key in changes and changes[key] is None:
            raise InvalidInput(key, "cannot be null; leave it out to keep the current value")


def aware_utc(moment: datetime | None, field_name: str) -> datetime | None:
    """``moment`` in UTC; a naive time is refused (its zone is unknown)."""
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
