"""Event times too far ahead of the worker's wall clock: the bound, and the refused events.

An event time more than :func:`max_ahead_s` ahead of the wall clock (a producer with a wrong
clock; the bridge never writes one) would move its partition's clock and every deadline of
every household there, so :class:`detectors.runtime.Runtime` refuses it. A batch carries
events of many households: only the events too far ahead are refused, and their dead letter
(:func:`refused_letter`) holds just them, each as it was sent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from anbu.events import DeadLetter
from anbu.timeutil import utcnow
from detectors.exceptions import EventTimeAheadError

if TYPE_CHECKING:
    from config import Settings


def max_ahead_s(settings: Settings) -> float:
    """How far ahead of the worker's wall clock an event time may be, in seconds.

    The bridge replaces a device time further than ``ingest.device_time_window`` from its
    receive time, so nothing it writes is further ahead than that; the margin covers the
    clocks of the bridge's and the worker's machines.
    """
    return (settings.ingest.device_time_window
            + settings.detectors.event_time_margin).total_seconds()


def refused_letter(
    raw: bytes, refused: list[int], count: int, error: EventTimeAheadError, topic: str
) -> DeadLetter:
    """The dead letter (reason ``event_time_ahead``) of the refused events of a record.

    Args:
        raw: the record's value.
        refused: the indices of the refused events in the record.
        count: how many events the record holds.
        error: the refusal of the latest of them.
        topic: the topic the record came from.
    """
    return DeadLetter(
        reason="event_time_ahead",
        detail=(f"detector worker refused {len(refused)} of the {count} events of "
                f"the record (the others were applied): {error}"),
        topic=f"kafka:{topic}",
        payload=_only_events(raw, refused, count),
        receive_time=utcnow(),
    )


def _only_events(raw: bytes, keep: list[int], count: int) -> str:
    """The record ``raw`` cut down to its events at the indices ``keep``.

    Each event keeps every field it was sent with, so the dead letter can be examined or
    replayed as it came.
    """
    text = raw.decode("utf-8", errors="replace")
    if len(keep) == count:
        return text
    doc = json.loads(text)  # a batch: a single event is kept or refused whole
    doc["events"] = [doc["events"][i] for i in keep]
    return json.dumps(doc, separators=(",", ":"))
