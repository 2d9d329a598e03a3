"""The household page's week of activity: one row per Seoul day, one cell per hour.

A phone is 390 px wide: 168 bars of a week would be 2 px each, so the week is drawn as a
grid (7 days x 24 hours) with the resident's usual day as an eighth row below it. A cell is
outlined red where this resident is usually active at that hour and nothing happened: that
is what a worker deciding to go needs to see at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from anbu.timeutil import in_seoul

HOURS = 24
DAYS = 7
USUAL_ACTIVE = 1.0  # events per hour on an average day that count as "usually active"
_WEEKDAYS = {"ko": "월화수목금토일", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}
_TEXT = {
    "ko": {"usual": "평소", "quiet": "평소엔 활동, 이번엔 없음", "none": "활동 없음",
           "title": "최근 7일 시간대별 활동 (평소와 비교)", "no_history": "평소 기록 부족"},
    "en": {"usual": "Usual", "quiet": "usually active, nothing now", "none": "no activity",
           "title": "Activity by hour, last 7 days (vs usual)", "no_history": "too little history"},
}


@dataclass(frozen=True, slots=True)
class WeekGrid:
    """Hourly counts of the last 7 Seoul days and the resident's usual count per hour.

    Attributes:
        days: the 7 Seoul dates' midnights (UTC-aware), oldest first.
        counts: ``counts[d][h]``: events in hour ``h`` (Seoul) of day ``d``; None is the future.
        usual: average events per Seoul hour of the day over the days before, or None
            without any history.
        history_days: how many earlier days with activity the usual is made of.
    """

    days: list[datetime]
    counts: list[list[float | None]]
    usual: list[float] | None
    history_days: int

    def quiet_cells(self) -> int:
        """Past hours where the resident is usually active and nothing happened."""
        if self.usual is None:
            return 0
        return sum(
            1
            for row in self.counts
            for hour, value in enumerate(row)
            if value == 0 and self.usual[hour] >= USUAL_ACTIVE
        )


def week_start(now: datetime) -> datetime:
    """Midnight in Seoul six days before ``now``'s Seoul date, as UTC."""
    local = in_seoul(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    return midnight.astimezone(UTC)


def _hourly(activity: dict[str, Any]) -> dict[int, float]:
    """Epoch hour -> events of every kind, from ``DashboardQueries.household_activity``."""
    totals: dict[int, float] = {}
    series: dict[str, list[float]] = activity.get("series", {})
    for values in series.values():
        for stamp, value in zip(activity.get("t", []), values, strict=False):
            totals[stamp] = totals.get(stamp, 0.0) + value
    return totals


def build_grid(
    week: dict[str, Any], history: dict[str, Any], start: datetime, now: datetime
) -> WeekGrid:
    """The grid from two ``household_activity`` answers (hourly steps).

    Args:
        week: activity from ``start`` to ``now``.
        history: activity of the weeks before ``start``.
        start: :func:`week_start` of ``now``.
        now: the current time.
    """
    hourly = _hourly(week)
    days = [start + timedelta(days=d) for d in range(DAYS)]
    counts: list[list[float | None]] = []
    for day in days:
        row: list[float | None] = []
        for hour in range(HOURS):
            moment = day + timedelta(hours=hour)
            row.append(None if moment > now else hourly.get(int(moment.timestamp()), 0.0))
        counts.append(row)
    past = _hourly(history)
    by_day: dict[str, list[float]] = {}
    for stamp, value in past.items():
        local = in_seoul(datetime.fromtimestamp(stamp, UTC))
        by_day.setdefault(local.date().isoformat(), [0.0] * HOURS)[local.hour] += value
    # Only days with any activity: a home watched for a week has a week of usual, not
    # three weeks diluted by the days before it was installed.
    active_days = [hours for hours in by_day.values() if sum(hours) > 0]
    usual = None
    if active_days:
        usual = [
            round(sum(day[h] for day in active_days) / len(active_days), 2) for h in range(HOURS)
        ]
    return WeekGrid(days, counts, usual, len(active_days))


def _fill(value: float, top: float) -> str:
    if value <= 0:
        return "#eceff1"
    share = min(1.0, value / top) if top > 0 else 1.0
    # From light to dark blue: even one event is clearly not grey.
    light = int(200 - 150 * share)
    return f"rgb({light},{light + 25},{min(255, light + 80)})"


def grid_svg(grid: WeekGrid, lang: str, raised_at: datetime | None = None) -> str:
    """The grid as inline SVG (no script, no external assets); fixed texts only."""
    text = _TEXT[lang]
    left, top, cell_w, cell_h, gap = 62, 16, 12.5, 17, 2
    width = left + HOURS * cell_w + 4
    height = top + (DAYS + 1) * cell_h + 10 + 16
    values = [v for row in grid.counts for v in row if v is not None]
    scale = max(values + (grid.usual or []) + [1.0])
    total = int(sum(values))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height}" '
        f'role="img" aria-label="{text["title"]}" data-total="{total}" '
        f'data-quiet="{grid.quiet_cells()}" class="week-grid">',
        "<style>text{font:10px system-ui,'Noto Sans KR',sans-serif;fill:#555}</style>",
    ]
    for hour in (0, 6, 12, 18):
        x = left + hour * cell_w
        parts.append(f'<text x="{x:.1f}" y="11">{hour}{"시" if lang == "ko" else "h"}</text>')
    raised_cell = None
    if raised_at is not None:
        raised_cell = int((raised_at - grid.days[0]).total_seconds() // 3600)
    for d, (day, row) in enumerate(zip(grid.days, grid.counts, strict=True)):
        local = in_seoul(day)
        y = top + d * cell_h
        name = _WEEKDAYS[lang][local.weekday()]
        parts.append(f'<text x="0" y="{y + 12}">{local.month}/{local.day} {name}</text>')
        for hour, value in enumerate(row):
            x = left + hour * cell_w
            if value is None:
                continue
            usual = grid.usual[hour] if grid.usual is not None else 0.0
            quiet = value == 0 and usual >= USUAL_ACTIVE
            stroke = ' stroke="#c62828" stroke-width="1.5"' if quiet else ""
            parts.append(
                f'<rect x="{x + .5:.1f}" y="{y + .5}" width="{cell_w - gap:.1f}" '
                f'height="{cell_h - gap}" rx="2" fill="{_fill(value, scale)}"{stroke}>'
                f"<title>{local.month}/{local.day} {hour}:00 {value:g}</title></rect>"
            )
            if raised_cell == d * HOURS + hour:
                parts.append(
                    f'<circle cx="{x + cell_w / 2 - 1:.1f}" cy="{y + cell_h / 2 - 1}" r="3.5" '
                    'fill="#c62828" data-role="raised"/>'
                )
    y = top + DAYS * cell_h + 6
    parts.append(f'<text x="0" y="{y + 12}" style="font-weight:700">{text["usual"]}</text>')
    if grid.usual is None:
        parts.append(f'<text x="{left}" y="{y + 12}">{text["no_history"]}</text>')
    else:
        for hour, value in enumerate(grid.usual):
            x = left + hour * cell_w
            parts.append(
                f'<rect x="{x + .5:.1f}" y="{y + .5}" width="{cell_w - gap:.1f}" '
                f'height="{cell_h - gap}" rx="2" fill="{_fill(value, scale)}">'
                f"<title>{hour}:00 {value:g}</title></rect>"
            )
    y += cell_h + 12
    parts.append(
        f'<rect x="0" y="{y - 8}" width="9" height="9" fill="#eceff1" stroke="#c62828"/>'
        f'<text x="13" y="{y}">{text["quiet"]}</text>'
        f'<circle cx="{width * .62:.0f}" cy="{y - 3.5}" r="3.5" fill="#c62828"/>'
        f'<text x="{width * .62 + 7:.0f}" y="{y}">{"알림" if lang == "ko" else "alert"}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
