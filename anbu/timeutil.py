"""Time helpers: everything is timezone-aware; stored in UTC, shown in Asia/Seoul."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def to_utc(moment: datetime) -> datetime:
    """Convert an aware datetime to UTC.

    Raises:
        ValueError: ``moment`` is naive (a naive time is ambiguous, so it is refused), or
            out of range in UTC (year 1 or 9999 with an offset).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: a timezone is required")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # a ValueError, so model validation reports it and the record is dead-lettered
        raise ValueError(f"{moment.isoformat()} is out of range in UTC") from None


def from_epoch(seconds: float) -> datetime:
    """Return the aware UTC datetime for Unix epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def in_seoul(moment: datetime) -> datetime:
    """Return ``moment`` in the care centers' timezone, for display."""
    return to_utc(moment).astimezone(SEOUL)
