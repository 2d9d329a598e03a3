"""The time range a dashboard shows, and the step its charts are grouped by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from anbu.timeutil import to_utc, utcnow
from web.dashboards.exceptions import BadRangeError

PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "365d": timedelta(days=365),
}
DEFAULT_PRESET = "24h"

# (longest range, step): about 300 points or fewer per chart.
_STEPS: list[tuple[timedelta, timedelta]] = [
    (timedelta(hours=1), timedelta(minutes=1)),
    (timedelta(hours=6), timedelta(minutes=5)),
    (timedelta(days=1), timedelta(minutes=5)),
    (timedelta(days=2), timedelta(minutes=15)),
    (timedelta(days=7), timedelta(hours=1)),
    (timedelta(days=31), timedelta(hours=3)),
    (timedelta(days=92), timedelta(hours=12)),
]
MAX_RANGE = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A closed-open interval ``[start, end)`` in UTC with its chart step.

    Attributes:
        start: first instant shown.
        end: the instant after the last shown.
        step: the width of one chart point.
        preset: the picker's name for it (``"24h"``), or ``"custom"``.
    """

    start: datetime
    end: datetime
    step: timedelta
    preset: str

    @property
    def seconds(self) -> float:
        """The length of the range in seconds."""
        return (self.end - self.start).total_seconds()

    def influx_where(self) -> str:
        """``time >= ... AND time < ...`` for InfluxQL (epoch seconds)."""
        return f"time >= {int(self.start.timestamp())}s AND time < {int(self.end.timestamp())}s"

    def group_by_time(self) -> str:
        """``time(<step>)`` for InfluxQL."""
        return f"time({int(self.step.total_seconds())}s)"

    def ticks(self) -> list[int]:
        """Epoch seconds of every step in the range (the x axis of the charts)."""
        step = int(self.step.total_seconds())
        first = int(self.start.timestamp()) // step * step
        return list(range(first, int(self.end.timestamp()), step))


def step_for(length: timedelta) -> timedelta:
    """The chart step for a range of ``length``."""
    for longest, step in _STEPS:
        if length <= longest:
            return step
    return timedelta(days=1)


def parse_range(
    preset: str | None = None,
    start: str | None = None,
    end: str | None = None,
    *,
    now: datetime | None = None,
) -> TimeRange:
    """Build the range from the picker's query parameters.

    Args:
        preset: one of :data:`PRESETS` (``"24h"``), used when ``start`` is absent.
        start: ISO 8601 start with a timezone (``2026-11-20T09:00:00+09:00``).
        end: ISO 8601 end; unset: now.
        now: the current time (tests).

    Raises:
        BadRangeError: an unknown preset, an unparseable or naive time, an empty or
            reversed range, or one longer than 400 days.
    """
    now = now or utcnow()
    if start:
        begin = _parse_time(start, "start")
        finish = _parse_time(end, "end") if end else now
        name = "custom"
    else:
        name = preset or DEFAULT_PRESET
        if name not in PRESETS:
            raise BadRangeError(
                f"unknown range {name!r}; use one of {', '.join(PRESETS)} or start/end"
            )
        finish = now
        begin = now - PRESETS[name]
    if finish <= begin:
        raise BadRangeError("the range's end must come after its start")
    if finish - begin > MAX_RANGE:
        raise BadRangeError("a range may span at most 400 days")
    return TimeRange(begin, finish, step_for(finish - begin), name)


def _parse_time(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRangeError(f"{what} {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise BadRangeError(f"{what} {text!r} has no timezone (add +09:00 or Z)")
    return to_utc(moment)
