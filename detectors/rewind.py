"""Reading skipped records again instead of losing them.

Faust 0.15 drops records it has already fetched when a rebalance begins in the middle of a
fetch (``Consumer.getmany`` breaks out when the generation changes, and skips partitions that
are momentarily not active), while Kafka's fetch position has moved past them. The next
fetch then hands the worker a record beyond the one it expects (seen in CI: two records of a
partition taken over by a joining worker were never processed). The worker's own record of
progress (:class:`detectors.offsets.OffsetGuard`) notices such a gap; this module turns the
gap into a re-read: the partition is sought back to the first missing record, the record in
hand is set aside (it comes again after the missing ones), and only records that Kafka no
longer holds (retention deleted them) are passed over, with an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

REWIND_QUIET_S = 2.0
"""After a rewind, records beyond the one sought are set aside without a new seek for this
long: they were fetched before the seek and come again after it."""


class Rewinder:
    """Seeks a partition back to the first record the worker has not processed.

    Args:
        earliest: the oldest offset Kafka still holds for a partition.
        seek: moves the consumer's fetch position of a partition.
        quiet_s: see :data:`REWIND_QUIET_S`.
    """

    def __init__(
        self,
        earliest: Callable[[Any], Awaitable[int | None]],
        seek: Callable[[Any, int], Awaitable[None]],
        quiet_s: float = REWIND_QUIET_S,
    ) -> None:
        self.earliest = earliest
        self.seek = seek
        self.quiet_s = quiet_s
        self.sought: dict[Any, tuple[int, float]] = {}
        self.rewinds = 0
        self.lost = 0
        self.reported: dict[Any, int] = {}

    async def on_gap(self, tp: Any, expected: int, offset: int) -> bool:
        """Handle a record at ``offset`` when ``expected`` was the next one due.

        Args:
            tp: the topic partition (a named tuple with ``topic`` and ``partition``).
            expected: the first offset not processed yet.
            offset: the record in hand.

        Returns:
            True when the record must be set aside (the partition reads again from
            ``expected``); False when the missing records are gone from Kafka and the record
            in hand must be processed.
        """
        now = time.monotonic()
        last = self.sought.get(tp)
        if last is not None and now - last[1] < self.quiet_s:
            if offset > last[0]:
                return True  # fetched before the seek: it comes again
            if offset == last[0]:
                return False  # the first record Kafka still held after lost ones
        try:
            first = await self.earliest(tp)
        except Exception as exc:  # Kafka busy: reading again is the safe side
            log.warning("could not read the oldest offset of %s:%d: %r", tp.topic,
                        tp.partition, exc)
            first = None
        if first is not None and first > expected:
            if self.reported.get(tp) != expected:
                self.reported[tp] = expected
                self.lost += first - expected
                log.error("records %s:%d from offset %d to %d were never processed and Kafka "
                          "no longer holds them (retention)", tp.topic, tp.partition, expected,
                          first - 1)
            if first >= offset:
                return False
            expected = first  # what Kafka still holds before the record in hand is read
        log.warning("records %s:%d from offset %d to %d were skipped by the consumer (a "
                    "rebalance during a fetch): reading them again", tp.topic, tp.partition,
                    expected, offset - 1)
        await self.seek(tp, expected)
        self.sought[tp] = (expected, now)
        self.rewinds += 1
        return True

    def forget(self, tp: Any) -> None:
        """Drop what is known of a partition that went to another worker."""
        self.sought.pop(tp, None)
        self.reported.pop(tp, None)
