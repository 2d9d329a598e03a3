"""Records the consumer passed over: set aside until they can be read again, never lost.

Faust 0.15 drops records it has already fetched when a rebalance begins in the middle of a
fetch (``Consumer.getmany`` breaks out when the generation changes, and skips partitions that
are momentarily not active), while Kafka's fetch position has moved past them. Before the
rebalance completes, the next fetch can hand the worker a record beyond the one it expects
(seen in CI: two records of a partition taken over by a joining worker were never processed).

The worker's own record of progress (:class:`detectors.offsets.OffsetGuard`) notices such a
gap. The record in hand is then set aside, not processed, so the partition's progress stays
before the missing records; the rebalance that caused the drop ends with every partition
sought to the first record not processed (:func:`detectors.checkpoints.seek_unread`), and the
missing records come again, in order. A seek from the record's own handler would not do:
Faust's fetch loop goes on handing out the rest of its batch, and its "already read" filter
then drops the records read again (found in review). Only records Kafka no longer holds
(retention deleted them) are passed over, with an error; and a gap that no rebalance heals
within :data:`STUCK_AFTER_S` makes the worker exit non-zero, so that its restart (which
resumes from its state table) reads the partition again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

STUCK_AFTER_S = 120.0
"""A gap still open this long after it was seen, with no rebalance between, is not one
Faust's rebalance drop left behind: the worker gives up (see :meth:`Rewinder.stuck`). Longer
than a rebalance takes under load (a SIGKILLed member's session timeout, 6 s, plus recovery)."""


class Rewinder:
    """Gaps in the records handed to the worker, per input partition.

    Args:
        earliest: the oldest offset Kafka still holds for a partition.
        stuck_after_s: see :data:`STUCK_AFTER_S`.
    """

    def __init__(
        self,
        earliest: Callable[[Any], Awaitable[int | None]],
        stuck_after_s: float = STUCK_AFTER_S,
    ) -> None:
        self.earliest = earliest
        self.stuck_after_s = stuck_after_s
        self.open: dict[Any, tuple[int, float]] = {}  # partition: (first missing, seen at)
        self.reported: dict[Any, int] = {}
        self.set_aside = 0
        self.lost = 0

    async def on_gap(self, tp: Any, expected: int, offset: int) -> bool:
        """Handle a record at ``offset`` when ``expected`` was the next one due.

        Args:
            tp: the topic partition (a named tuple with ``topic`` and ``partition``).
            expected: the first offset not processed yet.
            offset: the record in hand.

        Returns:
            True when the record must be set aside (it comes again after the missing ones,
            once the rebalance under way has sought the partition back); False when the
            missing records are gone from Kafka and the record in hand must be processed.
        """
        known = self.open.get(tp)
        if known is None or known[0] != expected:
            first = await self._oldest(tp)
            if first is not None and first > expected:
                if self.reported.get(tp) != expected:
                    self.reported[tp] = expected
                    self.lost += first - expected
                    log.error("records %s:%d from offset %d to %d were never processed and "
                              "Kafka no longer holds them (retention)", tp.topic,
                              tp.partition, expected, first - 1)
                if first >= offset:
                    return False
                # the records Kafka still holds before this one are read again from `first`
            log.warning("records %s:%d from offset %d to %d were passed over by the consumer "
                        "(a rebalance during a fetch): records after them are set aside until "
                        "the partition is read again from %d", tp.topic, tp.partition,
                        expected, offset - 1, expected)
            self.open[tp] = (expected, time.monotonic())
        self.set_aside += 1
        return True

    async def _oldest(self, tp: Any) -> int | None:
        try:
            return await self.earliest(tp)
        except Exception as exc:  # Kafka busy: setting the record aside is the safe side
            log.warning("could not read the oldest offset of %s:%d: %r", tp.topic,
                        tp.partition, exc)
            return None

    def rebalanced(self) -> None:
        """Forget the open gaps.

        The rebalance sought every partition back to its first record not processed
        (:func:`detectors.checkpoints.seek_unread`).
        """
        self.open.clear()

    def stuck(self, expected: Callable[[Any], int], now: float | None = None) -> list[Any]:
        """The partitions whose gap no rebalance has healed for ``stuck_after_s``.

        Args:
            expected: the first offset not processed yet, of a partition.
            now: monotonic time (default: now).
        """
        now = time.monotonic() if now is None else now
        for tp, (missing, _) in list(self.open.items()):
            if expected(tp) != missing:
                del self.open[tp]  # read again meanwhile (or taken as lost)
        return [tp for tp, (_, seen) in self.open.items() if now - seen >= self.stuck_after_s]
