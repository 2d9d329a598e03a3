"""One input record through the worker: read it, then apply it, in two steps.

Only a record that cannot be read (or whose event time is refused) is the input's fault
and is dead-lettered, naming the topic it came from. An error the detector core raises on a
record it could read is the worker's own bug: logged with its traceback and counted, and
the valid record is not blamed as bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from anbu.events import AlertEvent, DeadLetter, DeviceEvent, EventBatch, SosEvent
from anbu.health import Report
from anbu.timeutil import utcnow
from detectors.exceptions import EventTimeAheadError
from detectors.fastparse import FastEvent, fast_events

log = logging.getLogger(__name__)

Parsed = list[FastEvent] | EventBatch | DeviceEvent | SosEvent
"""A record read: events from the fast path, or the models the slow path validated."""

Applied = tuple[list[AlertEvent], DeadLetter | None]
"""What applying a record gave: its alerts, and the dead letter of the events of it that
were refused alone (too far ahead of the clock) while the others were taken."""


def parse_event(raw: bytes) -> EventBatch | DeviceEvent:
    """An ``anbu.events`` record: an :class:`EventBatch` or a single :class:`DeviceEvent`."""
    if b'"type":"batch"' in raw or b'"type": "batch"' in raw:
        return EventBatch.model_validate_json(raw)
    return DeviceEvent.model_validate_json(raw)


def parse_record(raw: bytes, sos: bool) -> Parsed:
    """Read an ``anbu.events`` (or, with ``sos``, an ``anbu.sos``) record.

    Raises:
        ValueError: the record is not one (pydantic's ``ValidationError`` is one).
    """
    if sos:
        return SosEvent.model_validate_json(raw)
    fast = fast_events(raw)
    return fast if fast is not None else parse_event(raw)


@dataclass
class Outcome:
    """What became of one record.

    Attributes:
        alerts: the alerts it raised.
        letter: its dead letter, when it was bad input.
        failed: the core failed on it (a worker bug; it is not dead-lettered).
    """

    alerts: list[AlertEvent] = field(default_factory=list)
    letter: DeadLetter | None = None
    failed: bool = False


@dataclass
class RecordCounts:
    """Records that were bad input, and records the core failed on, since the start."""

    dead_lettered: int = 0
    failed: int = 0

    def report(self) -> Report:
        """For the worker's heartbeat (``anbu status``)."""
        return Report(None, {"records_dead_lettered": self.dead_lettered,
                             "records_failed": self.failed})


def take(
    raw: bytes,
    sos: bool,
    topic: str,
    partition: int,
    apply: Callable[[Parsed], Applied],
    counts: RecordCounts | None = None,
) -> Outcome:
    """Read a record, then hand it to ``apply`` (the core), and say what became of it.

    Args:
        raw: the Kafka record's value.
        sos: whether it came from the SOS topic.
        topic: the topic it came from (named in its dead letter).
        partition: its partition (for the log).
        apply: applies a record read to the household state; returns the alerts raised and
            the dead letter of the events it refused while taking the others, if any.
        counts: counted into, when given.
    """
    counts = counts if counts is not None else RecordCounts()
    try:
        record = parse_record(raw, sos)
    except ValueError as exc:
        counts.dead_lettered += 1
        return Outcome(letter=dead_letter(raw, topic, partition, exc))
    try:
        alerts, refused = apply(record)
    except EventTimeAheadError as exc:  # a producer's clock, not ours: refused as input
        counts.dead_lettered += 1
        return Outcome(letter=dead_letter(raw, topic, partition, exc))
    except Exception:  # noqa: BLE001 - one bad household must not stop the worker
        counts.failed += 1
        log.exception("detector failed on a valid record of %s partition %d (a worker bug; "
                      "the record is not dead-lettered)", topic, partition)
        return Outcome(failed=True)
    if refused is not None:  # some of its events were too far ahead: only those go
        counts.dead_lettered += 1
    return Outcome(alerts=alerts, letter=refused)


def dead_letter(raw: bytes, topic: str, partition: int, exc: Exception) -> DeadLetter:
    """The dead letter of a record the worker refused or could not read."""
    ahead = isinstance(exc, EventTimeAheadError)
    log.warning("%s record on %s partition %d: %s", "refused" if ahead else "invalid",
                topic, partition, str(exc)[:300])
    return DeadLetter(
        reason="event_time_ahead" if ahead else "invalid_event",
        detail=(f"detector worker refused the record: {exc}" if ahead else
                f"detector worker could not parse the record: {str(exc)[:500]}"),
        topic=f"kafka:{topic}",
        payload=raw.decode("utf-8", errors="replace"),
        receive_time=utcnow(),
    )
