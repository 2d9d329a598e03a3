"""The weekly review's calendar and what it remembers of a week.

Weeks are Asia/Seoul weeks (Monday 00:00 to Monday 00:00), indexed from the Monday
1970-01-05; a week is remembered as a :class:`WeekStats` (aggregates, not events). The review
itself is :mod:`detectors.review`; the judging of a week, :mod:`detectors.review_judge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from anbu.timeutil import SEOUL

DAY = 86400.0
LOCAL_OFFSET = 9 * 3600.0  # Asia/Seoul has no daylight saving time
WEEK = 7 * DAY
# Monday 1970-01-05 00:00 Seoul: week 0 starts there, so week boundaries fall on Mondays.
_MONDAY0 = 4 * DAY - LOCAL_OFFSET
SLOT = 300.0  # activity is counted in 5-minute slots: a burst of messages counts once
HISTORY_WEEKS = 8
MIN_DAYS = 4  # a week with fewer days at home is not compared (nor used as a baseline)


def week_of(t: float) -> int:
    """The Seoul week index of epoch ``t`` (week 0 starts on Monday 1970-01-05)."""
    return int((t - _MONDAY0) // WEEK)


def week_start(week: int) -> float:
    """Epoch of the Monday 00:00 (Seoul) that starts ``week``."""
    return _MONDAY0 + week * WEEK


def week_label(week: int) -> str:
    """ISO week label, e.g. ``2017-W16``."""
    monday = datetime.fromtimestamp(week_start(week), SEOUL).date()
    year, number, _ = monday.isocalendar()
    return f"{year}-W{number:02d}"


def parse_week(label: str) -> int:
    """The week index of an ISO week label ``YYYY-Www``.

    Raises:
        ValueError: not such a label.
    """
    try:
        year, number = label.strip().upper().split("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ValueError(f"week {label!r}: expected YYYY-Www, e.g. 2017-W16") from None
    moment = datetime(monday.year, monday.month, monday.day, tzinfo=SEOUL)
    return week_of(moment.timestamp() + 1.0)


def week_dates(week: int) -> tuple[date, date]:
    """Monday and Sunday of ``week`` (Seoul dates)."""
    monday = datetime.fromtimestamp(week_start(week), SEOUL).date()
    return monday, monday + timedelta(days=6)


@dataclass(frozen=True, slots=True)
class WeekStats:
    """One week of one household, as aggregates (what the review remembers of it).

    Attributes:
        week: the week index (:func:`week_of`).
        observed: days on which anything was heard from the home (heartbeats included).
        away: observed days spent mostly inside an absence.
        out_days: days at home on which the resident went out.
        active_slots: 5-minute slots with activity on the days at home.
        night_slots: those of them in the night (00-05 h).
        absences: absences that touched the week: (start, end, ended with the door).
        door_heard: the entrance door's sensor sent anything this week (any report): when
            it did not, fewer days out may be a dead sensor rather than a resident at home.
    """

    week: int
    observed: int
    away: int
    out_days: int
    active_slots: int
    night_slots: int
    absences: tuple[tuple[float, float, bool], ...] = ()
    door_heard: bool = True

    @property
    def home_days(self) -> int:
        """Observed days not away: the days that are compared."""
        return self.observed - self.away

    @property
    def comparable(self) -> bool:
        """Enough days at home to compare the week (and to use it as a baseline)."""
        return self.home_days >= MIN_DAYS
