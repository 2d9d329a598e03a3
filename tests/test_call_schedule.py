"""The call schedule's text and the times it names (pure: no services)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from anbu.call_schedule import canonical_schedule, parse_call_schedule
from anbu.timeutil import SEOUL


def at(day: int, hh: int, mm: int) -> datetime:
    """December 2026 in Seoul (the 7th is a Monday)."""
    return datetime(2026, 12, day, hh, mm, tzinfo=SEOUL)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("mon-fri 10:00", "mon-fri 10:00"),
        ("Weekdays 9:05", "mon-fri 09:05"),
        ("mon,wed,fri 10:00,16:30; sat 11:00", "mon,wed,fri 10:00,16:30; sat 11:00"),
        ("weekends 10:00; mon-fri 10:00", "daily 10:00"),
        ("fri-mon 08:00", "mon,fri-sun 08:00"),
        ("mon,tue 10:00", "mon,tue 10:00"),
    ],
)
def test_a_schedule_reads_as_written_and_keeps_one_canonical_form(
    written: str, canonical: str
) -> None:
    assert canonical_schedule(written) == canonical
    assert canonical_schedule(canonical) == canonical


@pytest.mark.parametrize("bad", ["mon 25:00", "noon 10:00", "mon", "", "mon 10:00 x", "mon 10"])
def test_a_bad_schedule_is_refused_in_both_languages(bad: str) -> None:
    with pytest.raises(ValueError, match=" / ") as refused:
        parse_call_schedule(bad)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in str(refused.value))


def test_due_times_are_seoul_times_on_the_named_days() -> None:
    schedule = parse_call_schedule("mon-fri 10:00")
    # Friday 11:00 to the next Tuesday 11:00: Friday's call is past, then Monday and Tuesday
    due = schedule.due_between(at(11, 11, 0), at(15, 11, 0))
    assert due == [at(14, 10, 0), at(15, 10, 0)]
    assert due[0].utcoffset() == timedelta(0) and due[0].hour == 1  # stored in UTC
    assert schedule.next_after(at(14, 10, 0)) == at(15, 10, 0)
    assert schedule.next_after(at(14, 9, 59)) == at(14, 10, 0)
