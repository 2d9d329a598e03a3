"""The weekly review's visit plan as rows, with the week's visits, alerts and devices.

The review core's verdicts joined with the week's doorstep visits, alerts, missed check-in
calls and device health.

No HTTP here: :mod:`web.review` reads the inputs (InfluxDB, the alert store, the registry)
and renders these rows as the page and as CSV, from the same strings, so the two never
differ.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alerts.model import Alert, AlertState
from alerts.visits import Visit, VisitOutcome
from anbu.events import HEALTH_KINDS
from anbu.timeutil import in_seoul
from detectors.review import SLOT, Judgement
from detectors.review_cli import verdict

CHECKIN_MISSED = "checkin_missed"
"""The alert kind a missed scheduled check-in call opens (issue 18's calls, built elsewhere)."""

HEAD: dict[str, tuple[str, ...]] = {
    "ko": ("순위", "가구", "대상자", "판단", "집에 있던 날", "부재일", "외출일", "하루 활동",
           "밤 활동 (0-5시)", "이번 주 방문", "알림", "오경보", "열린 알림", "미응답 안부전화",
           "점검할 기기", "사유"),
    "en": ("rank", "household", "resident", "verdict", "days home", "days away", "days out",
           "active a day", "night (0-5 h)", "visits this week", "alerts", "false alarms",
           "open alerts", "missed calls", "devices to check", "why"),
}
NO_DATA = {
    "verdict": {"ko": "기록 없음", "en": "no data"},
    "why": {"ko": "이번 주 기기 기록이 없음: 게이트웨이와 센서 점검",
            "en": "no device events this week: check the gateway and sensors"},
}


@dataclass(frozen=True, slots=True)
class WeekFacts:
    """What the alert store and the device health say of one household's week.

    Attributes:
        visits: the week's doorstep visits, latest first.
        alerts: care alerts (not device health) opened in the week.
        false_alarms: of those, closed as false alarms.
        open_alerts: of those, still open or acknowledged.
        missed_calls: scheduled check-in calls missed (alerts of kind ``checkin_missed``).
        devices_to_check: devices that need an installer now (silent, low battery).
    """

    visits: tuple[Visit, ...] = ()
    alerts: int = 0
    false_alarms: int = 0
    open_alerts: int = 0
    missed_calls: int = 0
    devices_to_check: int = 0

    @property
    def seen_well(self) -> bool:
        """A worker saw the resident well this week."""
        return any(v.outcome is VisitOutcome.SEEN_WELL for v in self.visits)


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One row of the plan, as shown and exported.

    Attributes:
        household_id: the household (the page links it to the household page).
        css: ``visit``, ``away``, ``nodata`` or empty, plus ``seen`` when seen well.
        cells: the row's text, one string per :data:`HEAD` column.
    """

    household_id: str
    css: str
    cells: tuple[str, ...] = field(default=())


def missed_calls(alerts: Iterable[Alert]) -> int:
    """Scheduled check-in calls missed: alerts of kind :data:`CHECKIN_MISSED`.

    Two missed calls in a row open one such alert (issue 18); until the calls are built
    there are none, and the column reads 0.
    """
    return sum(1 for a in alerts if a.kind == CHECKIN_MISSED)


def week_facts(
    households: Iterable[str],
    alerts: Iterable[Alert],
    visits: Iterable[Visit],
    devices_to_check: dict[str, int],
    start: datetime,
    end: datetime,
) -> dict[str, WeekFacts]:
    """Each household's facts of the week ``[start, end)``.

    Args:
        households: the center's households.
        alerts: the center's alerts (any; those opened in the week are counted).
        visits: the center's visits of the week, latest first.
        devices_to_check: devices needing an installer now, per household.
        start: the week's start (UTC or aware).
        end: its end.
    """
    by_household: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        if start <= alert.opened_at < end:
            by_household[alert.household_id].append(alert)
    seen: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        seen[visit.household_id].append(visit)
    facts = {}
    for hid in households:
        mine = by_household.get(hid, [])
        care = [a for a in mine if a.kind not in HEALTH_KINDS and a.kind != CHECKIN_MISSED]
        facts[hid] = WeekFacts(
            visits=tuple(seen.get(hid, ())),
            alerts=len(care),
            false_alarms=sum(a.state is AlertState.FALSE_ALARM for a in care),
            open_alerts=sum(a.state.active for a in care),
            missed_calls=missed_calls(mine),
            devices_to_check=devices_to_check.get(hid, 0),
        )
    return facts


def visits_text(visits: Sequence[Visit], lang: str) -> str:
    """The latest visit's outcome and day, and how many more there were."""
    if not visits:
        return "-"
    latest = visits[0]
    text = f"{latest.text(lang)} {in_seoul(latest.at):%m-%d}"
    more = len(visits) - 1
    if more:
        text += f" (+{more})"
    return text


def plan_rows(
    plan: Sequence[Judgement],
    households: Sequence[str],
    names: dict[str, str],
    facts: dict[str, WeekFacts],
    lang: str,
) -> list[PlanRow]:
    """The plan's rows: the review's order, then the center's households it had no data of.

    Args:
        plan: the week's judgements, ranked (:meth:`detectors.review.Review.ranked`).
        households: the center's households.
        names: a resident's name per household (staff see names; empty when none).
        facts: :func:`week_facts`.
        lang: ``ko`` or ``en``.
    """
    rows: list[PlanRow] = []
    judged = {j.household_id for j in plan}
    minutes = "분" if lang == "ko" else " min"
    hours = "시간" if lang == "ko" else " h"
    for j in plan:
        s, f = j.stats, facts.get(j.household_id, WeekFacts())
        days = max(s.home_days, 1)
        css = "visit" if j.declined else "away" if s.away else ""
        rows.append(
            PlanRow(
                j.household_id,
                f"{css} seen".strip() if f.seen_well else css,
                (
                    str(len(rows) + 1), j.household_id, names.get(j.household_id, ""),
                    verdict(j, lang), str(s.home_days), str(s.away), str(s.out_days),
                    f"{s.active_slots * SLOT / 3600 / days:.1f}{hours}",
                    f"{s.night_slots * SLOT / 60 / days:.0f}{minutes}",
                    *_fact_cells(f, lang),
                    "; ".join(r.text(lang) for r in j.reasons),
                ),
            )
        )
    for hid in households:
        if hid in judged:
            continue
        f = facts.get(hid, WeekFacts())
        rows.append(
            PlanRow(
                hid,
                "nodata seen" if f.seen_well else "nodata",
                (
                    str(len(rows) + 1), hid, names.get(hid, ""), NO_DATA["verdict"][lang],
                    "-", "-", "-", "-", "-", *_fact_cells(f, lang), NO_DATA["why"][lang],
                ),
            )
        )
    return rows


def _fact_cells(f: WeekFacts, lang: str) -> tuple[str, ...]:
    return (
        visits_text(f.visits, lang), str(f.alerts), str(f.false_alarms), str(f.open_alerts),
        str(f.missed_calls), str(f.devices_to_check),
    )
