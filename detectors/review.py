"""The weekly review: each household's week against its own last eight weeks.

Pure, like the detector core: no I/O, no wall clock; time is event time in epoch seconds and
weeks are Asia/Seoul weeks (Monday 00:00 to Monday 00:00). Fed the same device events as the
detector (``anbu backtest``'s CSV rows), it keeps per household the current week's seven
days and the aggregates of the weeks before (at most :data:`HISTORY_WEEKS`), and judges each
week as it closes: days without going out, activity by day, night-time activity, days away.

What counts as activity and as going out follows docs/detectors.md ("What counts as
activity", "Home or out"), with one difference: plugs are left out. An appliance on a
timer or a thermostat switches on with nobody there, and the detector only recognises
those after nights of watching; a fridge's cycles in the week's activity would hide the very
decline the review looks for.

A silence of 24 h or more is an *absence* (a trip, a stay with family, a stopped recorder),
not a decline, when the resident left through the entrance door, when it ends with the door,
or when nothing but the gateway's heartbeats was heard during it. Days mostly inside an
absence are not compared.

The calendar and a week's aggregates are in :mod:`detectors.review_week`, the judging of a
week in :mod:`detectors.review_judge`; their names are importable from here too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from detectors.review_judge import (
    DECLINED,
    MIN_BASELINE,
    NIGHT_FLOOR,
    RECENT,
    Judgement,
    Reason,
    judge,
)
from detectors.review_week import (
    DAY,
    HISTORY_WEEKS,
    LOCAL_OFFSET,
    MIN_DAYS,
    SLOT,
    WEEK,
    WeekStats,
    parse_week,
    week_dates,
    week_label,
    week_of,
    week_start,
)

__all__ = [
    "ABSENCE", "AWAY_DAY", "DAY", "DECLINED", "HISTORY_WEEKS", "LOCAL_OFFSET", "MIN_BASELINE",
    "MIN_DAYS", "NIGHT_FLOOR", "NIGHT_HOURS", "OUT_GRACE", "QUIET_AFTER", "RECENT", "SLOT",
    "WEEK", "HouseholdReview", "Judgement", "Reason", "Review", "WeekStats", "judge",
    "parse_week", "review_rows", "week_dates", "week_label", "week_of", "week_start",
]

OUT_GRACE = 600.0  # the door, then nothing inside for 10 min: out (docs/detectors.md)
ABSENCE = 24 * 3600.0
AWAY_DAY = 12 * 3600.0  # a day at least this long inside an absence is an away day
NIGHT_HOURS = (0, 5)  # local hours [0, 5): night-time activity
QUIET_AFTER = 3600.0  # a sensor heard this long into a silence: the home's sensors ran

_INSIDE = frozenset({"motion", "robot", "checkin_answer", "button"})
_ON_CHANGE = frozenset({"contact", "presence", "door"})


@dataclass(slots=True)
class _Day:
    heard: bool = False
    out: bool = False
    away_s: float = 0.0
    slots: int = 0
    night: int = 0


def _days() -> list[_Day]:
    return [_Day() for _ in range(7)]


@dataclass(slots=True)
class HouseholdReview:
    """The review state of one household: this week's days and the weeks before."""

    hid: str
    week: int = -1
    days: list[_Day] = field(default_factory=_days)
    history: deque[WeekStats] = field(default_factory=lambda: deque(maxlen=HISTORY_WEEKS))
    values: dict[str, float] = field(default_factory=dict)  # on-change sensors' last value
    last_activity: float = 0.0
    left_by_door: bool = False  # the last activity was the entrance door
    heard_inside: bool = False  # a sensor (not the gateway) was heard since the last activity
    door_at: float = 0.0  # the entrance door, not yet followed by movement inside
    last_slot: int = -1
    absences: list[tuple[float, float, bool]] = field(default_factory=list)
    door_device: str = ""  # the entrance door's sensor, once it has reported
    door_heard: bool = False  # it reported this week

    def observe(self, t: float, device_id: str, kind: str, value: float) -> list[WeekStats]:
        """Take one event (time order); returns the weeks it closed, oldest first."""
        closed = self._roll(t)
        self.days[self._day(t)].heard = True
        if kind == "door":
            self.door_device = device_id
        if device_id == self.door_device:
            self.door_heard = True
        if kind == "heartbeat":
            return closed
        active, where = self._activity(device_id, kind, value)
        if not active:
            # a motion sensor clearing or a repeated contact minutes after the last activity
            # is not the home's sensors running through a silence
            if self.last_activity and t - self.last_activity >= QUIET_AFTER:
                self.heard_inside = True
            return closed
        if self.last_activity and t - self.last_activity >= ABSENCE:
            self._silence_ended(t, ended_by_door=where == 0)
            where = max(where, 1)  # a door ending it is the homecoming, not a departure
        elif self.door_at and where >= 0 and t - self.door_at >= OUT_GRACE:
            self._went_out(self.door_at)
            where = 1  # back home: this door is the homecoming, not a new departure
        if where == 1:
            self.door_at = 0.0
        elif where == 0 and not self.door_at:
            self.door_at = t
        self.last_activity = t
        self.left_by_door = where == 0
        self.heard_inside = False
        slot = int(t // SLOT)
        if slot != self.last_slot:
            self.last_slot = slot
            day = self.days[self._day(t)]
            day.slots += 1
            hour = int((t + LOCAL_OFFSET) % DAY // 3600)
            if NIGHT_HOURS[0] <= hour < NIGHT_HOURS[1]:
                day.night += 1
        return closed

    def finish(self, t: float) -> list[WeekStats]:
        """Close the weeks up to ``t`` (the end of the data) and the week ``t`` is in."""
        # the data ending exactly at a Monday 00:00 ends the week before, not a new one
        closed = self._roll(t - 1e-3)
        if self.week >= 0:
            if any(day.heard for day in self.days):
                closed.append(self._close(min(t, week_start(self.week + 1))))
            self.week = -1
        return closed

    # -- internals

    def _day(self, t: float) -> int:
        return min(6, int((t - week_start(self.week)) // DAY))

    def _activity(self, device_id: str, kind: str, value: float) -> tuple[bool, int]:
        """Whether the event is activity, and where it places the resident.

        ``where``: 1 inside, 0 at the entrance door, -1 it does not count.
        """
        if kind in _INSIDE:
            return (value >= 0.5 or kind != "motion"), 1
        if kind in _ON_CHANGE:
            previous = self.values.get(device_id)
            self.values[device_id] = value
            if previous == value or (previous is None and kind == "presence"):
                return False, -1
            return True, 0 if kind == "door" else 1
        return False, -1

    def _roll(self, t: float) -> list[WeekStats]:
        week = week_of(t)
        if self.week < 0:
            self.week = week
            return []
        closed: list[WeekStats] = []
        while self.week < week:
            closed.append(self._close(week_start(self.week + 1)))
            self.week += 1
            self.days = _days()
        return closed

    def _close(self, end: float) -> WeekStats:
        """Aggregate the week that ends at ``end`` (or the data ending inside it)."""
        start = week_start(self.week)
        if self.door_at and end - self.door_at >= OUT_GRACE and end - self.door_at < ABSENCE:
            self._went_out(self.door_at)  # out when the week ended, not back yet
        if self.last_activity and end - self.last_activity >= ABSENCE and (
            self.left_by_door or not self.heard_inside
        ):
            # still away when the week ends: judged on what is known so far
            self._mark_away(self.last_activity, end)
            self.absences.append((max(self.last_activity, start), end, False))
        home = [d for d in self.days if d.heard and d.away_s < AWAY_DAY]
        stats = WeekStats(
            week=self.week,
            observed=sum(d.heard for d in self.days),
            away=sum(d.heard and d.away_s >= AWAY_DAY for d in self.days),
            out_days=sum(d.out for d in home),
            active_slots=sum(d.slots for d in home),
            night_slots=sum(d.night for d in home),
            absences=tuple(self.absences),
            door_heard=self.door_heard or not self.door_device,
        )
        self.absences = []
        self.door_heard = False
        self.history.append(stats)
        return stats

    def _went_out(self, door: float) -> None:
        if door >= week_start(self.week):
            self.days[self._day(door)].out = True
        self.door_at = 0.0

    def _silence_ended(self, t: float, *, ended_by_door: bool) -> None:
        if ended_by_door or self.left_by_door or not self.heard_inside:
            start = max(self.last_activity, week_start(self.week))
            self._mark_away(start, t)
            self.absences.append((start, t, ended_by_door))
        self.door_at = 0.0

    def _mark_away(self, start: float, end: float) -> None:
        first = week_start(self.week)
        start = max(start, first)
        while start < end:
            index = int((start - first) // DAY)
            if index > 6:
                break
            day_end = min(end, first + (index + 1) * DAY)
            self.days[index].away_s += day_end - start
            start = day_end

@dataclass(slots=True)
class Review:
    """The review of many households, fed events in time order.

    Every closed week is judged at once against the weeks before it.
    """

    households: dict[str, HouseholdReview] = field(default_factory=dict)
    judgements: dict[int, list[Judgement]] = field(default_factory=dict)

    def observe(self, t: float, hid: str, device_id: str, kind: str, value: float) -> None:
        """Take one event (``anbu backtest`` CSV row)."""
        house = self.households.get(hid)
        if house is None:
            house = self.households[hid] = HouseholdReview(hid)
        before = list(house.history)
        closed = house.observe(t, device_id, kind, value)
        if closed:
            self._judge(hid, before, closed)

    def finish(self, t: float) -> None:
        """The data ends at ``t``: close every household's open week."""
        for hid, house in self.households.items():
            before = list(house.history)
            closed = house.finish(t)
            if closed:
                self._judge(hid, before, closed)

    def _judge(self, hid: str, before: list[WeekStats], closed: list[WeekStats]) -> None:
        earlier = before
        for stats in closed:
            judgement = judge(hid, stats, earlier)
            self.judgements.setdefault(stats.week, []).append(judgement)
            earlier = [*earlier, stats][-HISTORY_WEEKS:]

    def ranked(self, week: int) -> list[Judgement]:
        """The week's visit plan: declined households first, the largest decline first."""
        return sorted(
            self.judgements.get(week, []),
            key=lambda j: (not j.declined, -j.score, j.household_id),
        )

    def weeks(self) -> list[int]:
        """The weeks judged, oldest first."""
        return sorted(self.judgements)


def review_rows(
    rows: Iterable[tuple[float, str, str, str, float]], end: float | None = None
) -> Review:
    """Replay time-ordered backtest rows (:func:`detectors.backtest.read_csv`) into a review.

    Args:
        rows: the events, oldest first.
        end: where the data ends (a week's end, for the live page); default: just after
            the last row (a recorded file).
    """
    review = Review()
    last = 0.0
    for t, hid, dev, kind, value in rows:
        review.observe(t, hid, dev, kind, value)
        last = t
    if review.households:
        review.finish(end if end is not None else last + 1.0)
    return review
