"""When a household's scheduled check-in calls are due: the schedule's text and its times.

A schedule is written the way a care worker says it, in local (Asia/Seoul) time::

    mon-fri 10:00
    mon,wed,fri 10:00,16:30; sat 11:00
    daily 09:30

Parts are separated by ``;``; each part is days then times. Days are ``mon`` … ``sun``,
ranges (``mon-fri``, also across the week end: ``fri-mon``), lists, ``daily``, ``weekdays``
and ``weekends``. It is checked once, where it enters the registry, and kept in a canonical
form (:func:`canonical_schedule`), so every reader parses the same text.

Pure: no clock is read here; callers pass ``now``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated

from pydantic import AfterValidator

from anbu.timeutil import SEOUL, to_utc

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ALIASES = {"daily": "mon-sun", "weekdays": "mon-fri", "weekends": "sat-sun"}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_SLOTS = 7 * 8
"""At most eight calls a day: a schedule is a few calls a week, not a poll."""
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class CallSchedule:
    """The weekly times of a household's check-in calls.

    Attributes:
        slots: (weekday, local time) pairs, Monday = 0, sorted.
    """

    slots: tuple[tuple[int, time], ...]

    def parts(self) -> list[tuple[tuple[int, ...], list[str]]]:
        """(weekdays, ``HH:MM`` times) per set of days that share their times, in week order.

        What the canonical text and the household page's words are both made of.
        """
        by_time: dict[time, list[int]] = {}
        for day, at in self.slots:
            by_time.setdefault(at, []).append(day)
        by_days: dict[tuple[int, ...], list[str]] = {}
        for at in sorted(by_time):
            days = tuple(sorted(set(by_time[at])))
            by_days.setdefault(days, []).append(at.strftime("%H:%M"))
        # parts in week order (by their first day), so the text reads like a week
        return sorted(by_days.items())

    def text(self) -> str:
        """The canonical text: one part per set of days, in week order, days as runs."""
        return "; ".join(
            f"{_days_text(list(days))} {','.join(times)}" for days, times in self.parts()
        )

    def due_between(self, start: datetime, end: datetime) -> list[datetime]:
        """The call times in ``(start, end]``, as aware UTC datetimes, in order."""
        first = start.astimezone(SEOUL).date()
        last = end.astimezone(SEOUL).date()
        out: list[datetime] = []
        day = first
        while day <= last:
            for weekday, at in self.slots:
                if weekday == day.weekday():
                    moment = _local(day, at)
                    if start < moment <= end:
                        out.append(moment)
            day += timedelta(days=1)
        return sorted(out)

    def next_after(self, moment: datetime) -> datetime:
        """The first call time strictly after ``moment`` (UTC)."""
        return self.due_between(moment, moment + timedelta(days=8))[0]


def _local(day: date, at: time) -> datetime:
    return to_utc(datetime.combine(day, at, tzinfo=SEOUL))


def day_runs(days: list[int]) -> list[list[int]]:
    """Weekdays (Monday = 0) in runs of days in a row: ``[0, 1, 2, 4]`` -> ``[[0, 1, 2], [4]]``."""
    runs: list[list[int]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _days_text(days: list[int]) -> str:
    days = sorted(set(days))
    if days == list(range(7)):
        return "daily"
    runs = day_runs(days)
    parts = [
        DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}{',' if len(r) == 2 else '-'}{DAYS[r[-1]]}"
        for r in runs
    ]
    return ",".join(parts)


def _parse_days(text: str) -> set[int]:
    text = _ALIASES.get(text, text)
    days: set[int] = set()
    for item in text.split(","):
        first, sep, last = item.partition("-")
        if first not in DAYS or (sep and last not in DAYS):
            raise ValueError(
                f"unknown day {item!r}: use mon … sun, ranges (mon-fri), daily, weekdays, "
                "weekends / 요일은 mon … sun, mon-fri, daily, weekdays, weekends 로 적어 주세요"
            )
        start = DAYS.index(first)
        end = DAYS.index(last) if sep else start
        span = (end - start) % 7
        days.update((start + i) % 7 for i in range(span + 1))
    return days


def _parse_time(text: str) -> time:
    found = _TIME.match(text)
    if not found:
        raise ValueError(f"not a time {text!r}: use HH:MM / 시각은 HH:MM 으로 적어 주세요")
    return time(int(found.group(1)), int(found.group(2)))


def parse_call_schedule(text: str) -> CallSchedule:
    """Read a schedule's text.

    Raises:
        ValueError: the text is not a schedule (the message says why, in English and Korean).
    """
    if len(text) > MAX_TEXT:
        raise ValueError(f"a schedule is at most {MAX_TEXT} characters")
    slots: set[tuple[int, time]] = set()
    for part in text.lower().split(";"):
        words = part.split()
        if not words:
            continue
        if len(words) != 2:
            raise ValueError(
                f"{part.strip()!r}: write days then times, e.g. 'mon-fri 10:00' / "
                "요일과 시각을 'mon-fri 10:00' 처럼 적어 주세요"
            )
        days = _parse_days(words[0])
        times = [_parse_time(t) for t in words[1].split(",")]
        slots.update((d, t) for d in days for t in times)
    if not slots:
        raise ValueError("an empty schedule: leave it unset for no calls / 일정이 비어 있습니다")
    if len(slots) > MAX_SLOTS:
        raise ValueError(f"at most {MAX_SLOTS} calls a week / 주 {MAX_SLOTS}회까지 가능합니다")
    return CallSchedule(tuple(sorted(slots)))


def canonical_schedule(text: str) -> str:
    """Check a schedule's text and return its canonical form (raises ValueError)."""
    return parse_call_schedule(text).text()


CheckinScheduleText = Annotated[str, AfterValidator(canonical_schedule)]
"""A schedule's text, checked and made canonical on validation (registry input and records)."""
