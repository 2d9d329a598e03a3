"""The weekly review's verdict: a household's week against its own earlier weeks.

Pure: :func:`judge` compares a week's aggregates (:class:`~detectors.review_week.WeekStats`)
with the household's last eight weeks and says, in Korean and English, why it declined or
not. :mod:`detectors.review` feeds it every week as it closes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from detectors.review_week import HISTORY_WEEKS, SLOT, WeekStats

MIN_BASELINE = 3  # earlier comparable weeks needed to judge a week
NIGHT_FLOOR = 6.0  # active night slots a day below which a rise is measured from this
RECENT = 3  # weeks (this one included) that make "lately", against the older ones
DECLINED = 2.0  # the score from which a household is on the visit plan


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
