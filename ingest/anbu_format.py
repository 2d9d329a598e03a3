"""anbu's own MQTT JSON, spoken by our home gateways and care robots.

Messages *from* a home are published under ``anbu/<gateway_id>/...`` (the topic must belong to
a registered device, or be the registered gateway's own ``anbu/<gateway_id>/...``). Each is a
JSON object discriminated by ``type``:

* ``heartbeat``: the gateway is alive (advances the household's clock).
* ``interaction``: the resident touched or spoke to the robot, or took medication.
* ``checkin_answer``: the resident answered a :class:`CheckinRequest`.
* ``sos``: an emergency button on the gateway or robot, or the robot heard an emergency word.
* ``fall``: the robot or a fall sensor detected a fall.

Every message may carry ``ts`` (ISO 8601 with a UTC offset, or epoch seconds) and ``seq`` (a
sequence number the sender increments); both make the idempotency key specific, and ``ts`` is
the event time when it lies within the bridge's trusted window. Unknown extra fields are
ignored, so newer firmware can add fields without being dead-lettered.

The command *to* a robot, sent by the alerts service, is :class:`CheckinRequest` on
``<robot's mqtt_topic>/command``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from anbu.timeutil import from_epoch, to_utc

COMMAND_SUFFIX = "command"
"""Sub-topic of a robot's base topic on which it receives commands."""


def _parse_ts(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("ts must be ISO 8601 with an offset or epoch seconds")
    if isinstance(value, int | float):
        try:
            return from_epoch(float(value))
        except (OverflowError, OSError, ValueError):
            raise ValueError("ts is out of range") from None
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ValueError("ts needs a UTC offset, e.g. 2026-01-05T08:00:00+09:00")
        return to_utc(parsed)
    return value


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    ts: datetime | None = Field(
        default=None, description="When it happened: ISO 8601 with offset, or epoch seconds."
    )
    seq: int | None = Field(default=None, ge=0, description="Sender's sequence number.")

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> Any:
        return None if value is None else _parse_ts(value)


class Heartbeat(_Message):
    """The gateway is alive: ``{"type": "heartbeat"}``."""

    type: Literal["heartbeat"]
    uptime_s: float | None = Field(default=None, ge=0)


class Interaction(_Message):
    """The resident interacted with the care robot: ``{"type": "interaction", ...}``."""

    type: Literal["interaction"]
    interaction: Literal["touch", "voice", "medication_taken"]


class CheckinAnswer(_Message):
    """The resident answered a check-in request (``ok`` false: "I am not all right")."""

    type: Literal["checkin_answer"]
    request_id: str = Field(min_length=1, max_length=128)
    ok: bool


class Sos(_Message):
    """A call for help.

    Attributes:
        source: ``button`` (a physical SOS button) or ``robot`` (the robot heard an
            emergency keyword); unset: ``robot`` for a registered robot, else ``button``.
        detail: e.g. the keyword heard, at most 200 characters.
    """

    type: Literal["sos"]
    source: Literal["button", "robot"] | None = None
    detail: str | None = Field(default=None, max_length=200)


class Fall(_Message):
    """A detected fall."""

    type: Literal["fall"]
    detail: str | None = Field(default=None, max_length=200)


AnbuMessage = Annotated[
    Heartbeat | Interaction | CheckinAnswer | Sos | Fall, Field(discriminator="type")
]
anbu_message_adapter: TypeAdapter[AnbuMessage] = TypeAdapter(AnbuMessage)


class CheckinRequest(BaseModel):
    """The alerts service asks the resident, through the care robot, "are you all right?".

    Publish ``to_json()`` with QoS 1 on :func:`command_topic` of the robot's registered base
    topic. The robot answers with a :class:`CheckinAnswer` carrying the same ``request_id``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["checkin_request"] = "checkin_request"
    request_id: str = Field(min_length=1, max_length=128)
    text_ko: str = Field(min_length=1, max_length=500)
    text_en: str = Field(min_length=1, max_length=500)

    def to_json(self) -> bytes:
        """Serialise for MQTT."""
        return self.model_dump_json().encode()


def command_topic(robot_base_topic: str) -> str:
    """The topic on which a robot with this registered base topic receives commands."""
    return f"{robot_base_topic.rstrip('/')}/{COMMAND_SUFFIX}"


def json_schema() -> dict[str, Any]:
    """JSON Schema of the messages from homes, for the documentation and gateway vendors."""
    return anbu_message_adapter.json_schema()


if __name__ == "__main__":  # pragma: no cover - prints the schema for the docs
    print(json.dumps(json_schema(), indent=2))
