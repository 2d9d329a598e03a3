"""From one MQTT message to events, an SOS, or a dead letter: the bridge's pure core.

No broker, Kafka or clock in here (the receive time comes with the message), so the same
code runs in the bridge, in the property tests and in the benchmark.

Idempotency: every event's key is derived from the MQTT topic, the exact payload bytes and
the device's own time or sequence number when the payload has one, plus the event's kind.
A redelivery of the same message therefore gets the same key. The trade-off: two identical
payloads without a device time or sequence number, legitimately sent twice, also share a
key; consumers must therefore drop duplicates only within a bounded window (the detectors
use one of minutes, not forever), so a later identical SOS press is never swallowed. The
receive time is deliberately not part of the key: a redelivery after a crash arrives later.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from anbu.events import SCHEMA_VERSION, DeadLetter, DeviceEvent, SosEvent, SourceFormat
from ingest.adapters import ADAPTERS
from ingest.exceptions import Ignored, Rejected
from ingest.ratelimit import RateLimitedLog
from ingest.readings import Emergency, Owner, Parsed, Reading
from ingest.registry_cache import RegistryCache

log = logging.getLogger(__name__)

UNKNOWN_FORMAT = "unknown"
"""Metrics label when a message's source format cannot be told."""

_FORMAT_BY_ROOT = {
    "zigbee2mqtt": SourceFormat.ZIGBEE2MQTT,
    "tele": SourceFormat.TASMOTA,
    "shellies": SourceFormat.SHELLY,
    "anbu": SourceFormat.ANBU,
}


@dataclass(frozen=True, slots=True)
class Inbound:
    """One MQTT message as the bridge received it."""

    topic: str
    payload: bytes
    receive_time: datetime


EventDict = dict[str, Any]
"""A :class:`anbu.events.DeviceEvent` as the JSON object ``DeviceEvent.to_json()`` writes.

The bridge builds telemetry in this form directly: constructing and serialising a pydantic
model per event cost more than everything else the bridge does per message. The property
tests check that every such dict validates as a ``DeviceEvent``.
"""


def device_event(data: EventDict) -> DeviceEvent:
    """Validate a telemetry dict as the shared :class:`anbu.events.DeviceEvent`."""
    return DeviceEvent.model_validate(data)


def json_time(moment: datetime) -> str:
    """An aware UTC datetime as pydantic writes it (``2026-01-05T08:00:00.123456Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class Result:
    """What became of one message.

    Attributes:
        source_format: the format label for metrics (``unknown`` if it cannot be told).
        household_id: the owning household, when the topic is registered.
        events: telemetry for ``anbu.events``, as DeviceEvent JSON objects (see
            :data:`EventDict`).
        sos: calls for help for ``anbu.sos``.
        dead_letter: set when the message could not become events.
        ignored: reason when the message deliberately carries nothing to forward.
        unregistered_label: gateway id or topic prefix, for an unregistered topic.
    """

    source_format: str
    household_id: str | None = None
    events: list[EventDict] = field(default_factory=list)
    sos: list[SosEvent] = field(default_factory=list)
    dead_letter: DeadLetter | None = None
    ignored: str | None = None
    unregistered_label: str | None = None


def guess_format(topic: str) -> SourceFormat | None:
    """The format a topic's shape suggests (only for counting unregistered messages)."""
    levels = topic.split("/")
    found = _FORMAT_BY_ROOT.get(levels[0])
    if found is not None:
        return found
    if len(levels) >= 2 and (levels[1] == "online" or levels[1] == "status"):
        return SourceFormat.SHELLY
    return None


def message_key(topic: str, payload: bytes, stamp: str | None) -> str:
    """The idempotency key of a message (events append their kind to it)."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(topic.encode())
    digest.update(b"\x1f")
    digest.update(payload)
    digest.update(b"\x1f")
    if stamp is not None:
        digest.update(stamp.encode())
    return digest.hexdigest()


def _payload_text(payload: bytes) -> tuple[str, str]:
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


def _is_housekeeping(topic: str) -> bool:
    """Zigbee2MQTT's own ``<root>/bridge/...`` topics (logs, device lists) are not readings."""
    levels = topic.split("/")
    return len(levels) >= 2 and levels[0].startswith("zigbee2mqtt") and levels[1] == "bridge"


class Normaliser:
    """Turns inbound MQTT messages into events using the registry cache.

    Args:
        cache: the registry cache (which topic belongs to which device).
        device_time_window: a device time further than this from the receive time is
            replaced by the receive time and the event flagged.
        max_payload_bytes: larger payloads are dead-lettered (kept truncated to this size).
        log_every: rate limit of repeated warnings.
    """

    def __init__(
        self,
        cache: RegistryCache,
        *,
        device_time_window: timedelta,
        max_payload_bytes: int,
        log_every: timedelta = timedelta(seconds=10),
    ) -> None:
        self.cache = cache
        self.window = device_time_window
        self.max_payload_bytes = max_payload_bytes
        self._log = RateLimitedLog(log, log_every.total_seconds())

    def normalise(self, message: Inbound) -> Result:
        """Return what ``message`` becomes; never raises for any input."""
        try:
            return self._normalise(message)
        except Exception as exc:  # one bad message must never stop the bridge
            self._log.error("adapter_error", "adapter failed on %s: %r", message.topic, exc)
            return self._dead(message, UNKNOWN_FORMAT, "adapter_error", f"{type(exc).__name__}")

    def _normalise(self, message: Inbound) -> Result:
        topic = message.topic
        if len(message.payload) > self.max_payload_bytes:
            fmt = guess_format(topic)
            return self._dead(
                message,
                fmt.value if fmt else UNKNOWN_FORMAT,
                "payload_too_large",
                f"{len(message.payload)} bytes, over the limit of {self.max_payload_bytes}; "
                f"payload kept truncated",
            )
        found = self.cache.owner_of(topic)
        if found is None:
            return self._unregistered(message)
        owner, suffix = found
        adapter = ADAPTERS.get(owner.source_format)
        if adapter is None:
            return self._dead(
                message,
                owner.source_format.value,
                "unknown_format",
                f"device {owner.device_id} is registered with format "
                f"{owner.source_format.value!r}, which the bridge does not read",
                owner,
            )
        label = owner.source_format.value
        try:
            parsed = adapter(suffix, message.payload, owner)
        except Rejected as exc:
            self._log.warning(exc.reason, "dead letter %s on %s: %s", exc.reason, topic, exc.detail)
            return self._dead(message, label, exc.reason, exc.detail, owner)
        except Ignored as exc:
            return Result(label, owner.household_id, ignored=exc.reason)
        return self._events(message, owner, parsed)

    def _unregistered(self, message: Inbound) -> Result:
        topic = message.topic
        fmt = guess_format(topic)
        label = fmt.value if fmt else UNKNOWN_FORMAT
        last = topic.rpartition("/")[2]
        if last in ("set", "get", "command", "rpc") or _is_housekeeping(topic):
            return Result(label, ignored="command" if not _is_housekeeping(topic) else "bridge")
        gateway = self.cache.gateway_of_unregistered(topic)
        where = gateway or "/".join(topic.split("/")[:2])
        # One limit for every unregistered topic: a flood on distinct topics is one problem.
        self._log.warning(
            "unregistered", "message on unregistered topic %s (from %s)", topic, where
        )
        result = self._dead(
            message,
            label,
            "unregistered",
            "no registered device owns this topic; register the device with this base topic",
            gateway_id=gateway,
        )
        result.unregistered_label = f"gateway:{gateway}" if gateway else f"prefix:{where}"
        return result

    def _dead(
        self,
        message: Inbound,
        fmt: str,
        reason: str,
        detail: str,
        owner: Owner | None = None,
        gateway_id: str | None = None,
    ) -> Result:
        text, encoding = _payload_text(message.payload[: self.max_payload_bytes])
        letter = DeadLetter(
            reason=reason,
            detail=detail[:500],
            topic=message.topic,
            payload=text,
            payload_encoding=encoding,  # type: ignore[arg-type]
            receive_time=message.receive_time,
            source_format=SourceFormat(fmt) if fmt != UNKNOWN_FORMAT else None,
            gateway_id=owner.gateway_id if owner is not None else gateway_id,
        )
        return Result(fmt, owner.household_id if owner else None, dead_letter=letter)

    def _events(self, message: Inbound, owner: Owner, parsed: Parsed) -> Result:
        received = message.receive_time
        flagged = False
        event_time = received
        if parsed.device_time is not None:
            if abs(parsed.device_time - received) <= self.window:
                event_time = parsed.device_time
            else:
                flagged = True
        key = message_key(message.topic, message.payload, parsed.stamp)
        source_format = owner.source_format.value
        result = Result(source_format, owner.household_id)
        received_text = json_time(received)
        event_text = received_text if event_time is received else json_time(event_time)
        seen: set[str] = set()
        for item in parsed.items:
            if isinstance(item, Reading):
                suffix = item.kind.value
            else:
                suffix = f"sos.{item.cause.value}"
            if suffix in seen:  # adapters emit one item per kind; stay unique regardless
                suffix = f"{suffix}.{len(seen)}"
            seen.add(suffix)
            if isinstance(item, Emergency):
                result.sos.append(
                    SosEvent(
                        household_id=owner.household_id,
                        device_id=owner.device_id,
                        cause=item.cause,
                        event_time=event_time,
                        receive_time=received,
                        source_format=owner.source_format,
                        idempotency_key=f"{key}:{suffix}",
                        clock_flagged=flagged,
                        detail=item.detail,
                    )
                )
            else:
                event: EventDict = {
                    "schema_version": SCHEMA_VERSION,
                    "household_id": owner.household_id,
                    "device_id": owner.device_id,
                    "kind": item.kind.value,
                    "value": float(item.value),
                    "event_time": event_text,
                    "receive_time": received_text,
                    "source_format": source_format,
                    "idempotency_key": f"{key}:{suffix}",
                    "clock_flagged": flagged,
                }
                if owner.gateway_id is not None:
                    event["gateway_id"] = owner.gateway_id
                if item.detail:
                    event["detail"] = item.detail[:200]
                result.events.append(event)
        return result
