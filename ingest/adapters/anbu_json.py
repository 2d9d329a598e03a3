"""anbu's own gateway and care-robot JSON (models in :mod:`ingest.anbu_format`)."""

from __future__ import annotations

from pydantic import ValidationError

from anbu.events import EventKind, SosCause
from ingest.adapters.common import ignore_commands, json_of
from ingest.anbu_format import (
    CheckinAnswer,
    Fall,
    Heartbeat,
    Interaction,
    Sos,
    anbu_message_adapter,
)
from ingest.exceptions import Rejected
from ingest.readings import Emergency, Owner, Parsed, Reading


def adapt(suffix: str, payload: bytes, owner: Owner) -> Parsed:
    """Turn one anbu gateway/robot message into a reading or an emergency."""
    ignore_commands(suffix)
    data = json_of(payload)
    if not isinstance(data, dict):
        raise Rejected("invalid_payload", "expected a JSON object with a 'type'")
    try:
        message = anbu_message_adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise Rejected("invalid_payload", f"{where}: {first['msg']}"[:300]) from None
    item: Reading | Emergency
    if isinstance(message, Heartbeat):
        item = Reading(EventKind.HEARTBEAT, 1.0)
    elif isinstance(message, Interaction):
        item = Reading(EventKind.ROBOT, 1.0, message.interaction)
    elif isinstance(message, CheckinAnswer):
        item = Reading(EventKind.CHECKIN_ANSWER, 1.0 if message.ok else 0.0, message.request_id)
    elif isinstance(message, Sos):
        robot = message.source == "robot" or (message.source is None and owner.kind == "robot")
        item = Emergency(SosCause.ROBOT_EMERGENCY if robot else SosCause.BUTTON, message.detail)
    else:
        assert isinstance(message, Fall)
        item = Emergency(SosCause.FALL, message.detail)
    parts = [p for p in (message.ts and message.ts.isoformat(), message.seq) if p is not None]
    stamp = "|".join(str(p) for p in parts) if parts else None
    return Parsed([item], message.ts, stamp)
