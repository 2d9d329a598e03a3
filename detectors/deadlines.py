"""Households' next deadlines, ordered by time (a heap with lazy invalidation).

Waking is O(log n) per due household; nothing ever scans all households. A household that
moves its deadline later keeps its old heap entry, which is skipped when popped because it
no longer matches the household's ``due`` time; one that moves it earlier pushes a new entry.
"""

from __future__ import annotations

import heapq


class DeadlineQueue:
    """A min-heap of ``(time, household_id)``; stale entries are dropped when popped."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[tuple[float, str]] = []
        """The heap itself: read ``heap[0][0]`` for the earliest time without a call."""

    def push(self, at: float, household_id: str) -> None:
        """Schedule ``household_id`` at ``at``."""
        heapq.heappush(self.heap, (at, household_id))

    def peek(self) -> float | None:
        """The earliest scheduled time, stale or not."""
        return self.heap[0][0] if self.heap else None

    def pop_due(self, now: float) -> tuple[float, str] | None:
        """Pop the earliest entry if it is at or before ``now``."""
        heap = self.heap
        if heap and heap[0][0] <= now:
            return heapq.heappop(heap)
        return None

    def __len__(self) -> int:
        return len(self.heap)

    def compact(self, live: dict[str, float]) -> None:
        """Drop stale entries (``live`` maps household to its current due time)."""
        self.heap = [(t, h) for t, h in self.heap if live.get(h) == t]
        heapq.heapify(self.heap)
