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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from anbu.timeutil import SEOUL

DAY = 86400.0
LOCAL_OFFSET = 9 * 3600.0  # Asia/Seoul has no daylight saving time
WEEK = 7 * DAY
# Monday 1970-01-05 00:00 Seoul: week 0 starts there, so week boundaries fall on Mondays.
_MONDAY0 = 4 * DAY - LOCAL_OFFSET
SLOT = 300.0  # activity is counted in 5-minute slots: a burst of messages counts once
OUT_GRACE = 600.0  # the door, then nothing inside for 10 min: out (docs/detectors.md)
ABSENCE = 24 * 3600.0
AWAY_DAY = 12 * 3600.0  # a day at least this long inside an absence is an away day
NIGHT_HOURS = (0, 5)  # local hours [0, 5): night-time activity
HISTORY_WEEKS = 8
MIN_DAYS = 4  # a week with fewer days at home is not compared (nor used as a baseline)
MIN_BASELINE = 3  # earlier comparable weeks needed to judge a week
NIGHT_FLOOR = 6.0  # active night slots a day below which a rise is measured from this
RECENT = 3  # weeks (this one included) that make "lately", against the older ones
DECLINED = 2.0  # the score from which a household is on the visit plan
QUIET_AFTER = 3600.0  # a sensor heard this long into a silence: the home's sensors ran

_INSIDE = frozenset({"motion", "robot", "checkin_answer", "button"})
_ON_CHANGE = frozenset({"contact", "presence", "door"})


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


@dataclass(frozen=True, slots=True)
class Reason:
    """One plain-words reason, in Korean and English."""

    ko: str
    en: str

    def text(self, lang: str) -> str:
        """The reason in ``lang`` (``ko`` or ``en``)."""
        return self.ko if lang == "ko" else self.en


@dataclass(frozen=True, slots=True)
class Judgement:
    """A household's week judged against its own earlier weeks.

    Attributes:
        household_id: the household.
        stats: the week.
        score: how far the pattern declined (0: not at all); ranks the visit plan.
        reasons: why, in plain words (a decline, an absence, or too little to compare).
        declined: the score is high enough to put the household on the visit plan.
        baseline_weeks: earlier comparable weeks it was compared with.
    """

    household_id: str
    stats: WeekStats
    score: float
    reasons: tuple[Reason, ...]
    declined: bool
    baseline_weeks: int


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


def _per_week(value: float, days: int) -> float:
    return value * 7.0 / days


def _rates(weeks: list[WeekStats]) -> tuple[float, float, float]:
    """Mean days out per week, active slots per day and night slots per day of ``weeks``."""
    n = len(weeks)
    return (
        sum(_per_week(w.out_days, w.home_days) for w in weeks) / n,
        sum(w.active_slots / w.home_days for w in weeks) / n,
        sum(w.night_slots / w.home_days for w in weeks) / n,
    )


def judge(hid: str, stats: WeekStats, earlier: Iterable[WeekStats]) -> Judgement:
    """Compare ``stats`` with the household's earlier weeks (at most the last eight).

    The score adds up three declines, each measured against the household's own usual and
    floored so that a small habit cannot make a large score: fewer days out (in days per
    week), less activity (the share lost), more night-time activity (the share gained).
    """
    base = [w for w in list(earlier)[-HISTORY_WEEKS:] if w.comparable]
    reasons: list[Reason] = []
    away_days = stats.away
    if away_days:
        doors = sum(1 for a in stats.absences if a[2])
        how_en = ", back through the entrance door" if doors else ""
        how_ko = " (현관문으로 귀가)" if doors else ""
        reasons.append(
            Reason(
                ko=f"{away_days}일 부재{how_ko}: 감소로 보지 않음",
                en=f"away {away_days} day{'s' if away_days > 1 else ''}{how_en}: "
                "an absence, not a decline",
            )
        )
    if not stats.comparable or len(base) < MIN_BASELINE:
        if not stats.comparable:
            reasons.append(
                Reason(
                    ko=f"집에 있던 날 {stats.home_days}일: 비교하지 않음",
                    en=f"{stats.home_days} day{'' if stats.home_days == 1 else 's'} at home: "
                    "not compared",
                )
            )
        else:
            reasons.append(
                Reason(
                    ko=f"비교할 이전 주 {len(base)}주 (3주 필요)",
                    en=f"{len(base)} earlier weeks to compare with (3 needed)",
                )
            )
        return Judgement(hid, stats, 0.0, tuple(reasons), False, len(base))
    n = len(base)
    # A gradual decline spreads over the baseline itself: "usual" is the older weeks of
    # the eight (those before the last three) when there are enough of them.
    older = [w for w in base if w.week <= stats.week - RECENT] or base
    if len(older) < MIN_BASELINE:
        older = base
    recent = [w for w in base if w.week > stats.week - RECENT] + [stats]
    out_now, act_now, night_now = _rates([stats])
    out_usual, act_usual, night_usual = _rates(older)
    out_recent, act_recent, night_recent = _rates(recent)

    def declines(out: float, act: float, night: float) -> tuple[float, float, float]:
        return (
            max(0.0, out_usual - out) / max(1.0, 0.25 * out_usual),
            max(0.0, act_usual - act) / max(act_usual, 1.0) / 0.15,
            max(0.0, night - night_usual) / max(night_usual, NIGHT_FLOOR) / 0.5,
        )

    # half this week, half the recent weeks': one unusual week of a steady household counts
    # for less than a decline that has lasted
    week_d = declines(out_now, act_now, night_now)
    recent_d = declines(out_recent, act_recent, night_recent)
    out_drop, act_drop, night_rise = (0.5 * (a + b) for a, b in zip(week_d, recent_d, strict=True))
    now_d, usual_d = round(out_now), round(out_usual)
    check_ko = check_en = ""
    if not stats.door_heard:
        check_ko = " (현관문 센서가 이번 주 아무것도 보내지 않음: 센서 점검)"
        check_en = " (the entrance door's sensor sent nothing this week: check it)"
    pct = round(100 * (act_usual - act_now) / max(act_usual, 1.0))
    parts = [
        (
            out_drop,
            Reason(
                ko=f"이번 주 외출 {now_d}일, 평소 {usual_d}일{check_ko}",
                en=f"went out on {now_d} day{'' if now_d == 1 else 's'} this week, "
                f"usually {usual_d}{check_en}",
            ),
        ),
        (
            act_drop,
            Reason(ko=f"활동량이 평소보다 {pct}% 적음", en=f"moved about {pct}% less than usual"),
        ),
        (
            night_rise,
            Reason(
                ko=f"밤(0-5시) 활동이 하루 {night_now * SLOT / 60:.0f}분, 평소 "
                f"{night_usual * SLOT / 60:.0f}분",
                en=f"active at night (0-5 h) {night_now * SLOT / 60:.0f} min a day, usually "
                f"{night_usual * SLOT / 60:.0f} min",
            ),
        ),
    ]
    score = sum(value for value, _ in parts)
    declined = score >= DECLINED
    if declined:
        # what moved this week, or what has been moving lately
        shown = [
            reason
            for (value, reason), this_week in zip(parts, week_d, strict=True)
            if value >= 1.0 or this_week >= 1.0
        ]
        # several small declines and none large: name the largest
        reasons.extend(shown or [max(parts, key=lambda part: part[0])[1]])
    else:
        reasons.append(Reason(ko="평소와 비슷함", en="as usual"))
    return Judgement(hid, stats, score, tuple(reasons), declined, n)


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


def week_dates(week: int) -> tuple[date, date]:
    """Monday and Sunday of ``week`` (Seoul dates)."""
    monday = datetime.fromtimestamp(week_start(week), SEOUL).date()
    return monday, monday + timedelta(days=6)
