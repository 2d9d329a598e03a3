"""The registry's field rules, each written once.

The API's request bodies (:mod:`devices.schemas`), the service functions the CLI calls
(:mod:`devices.service`) and the CSV import (:mod:`devices.csv_import`) all take their limits
from here, so a value one of them accepts is never refused, nor let through, by another.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from devices.exceptions import InvalidInput

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
