"""A household's last 24 hours of activity, as a small inline SVG bar chart.

Reads ``activity_5m`` (tags household, kind; integer field ``count``; time = 5-minute bucket
start), written by ``anbu series``. Drawn here as SVG so the inbox needs nothing from the
internet and works on a phone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from anbu.influx import InfluxClient, InfluxError
from anbu.timeutil import in_seoul, to_utc, utcnow

BUCKET = timedelta(minutes=30)
WINDOW = timedelta(hours=24)


def activity_buckets(
    client: InfluxClient, household_id: str, end: datetime | None = None
) -> list[tuple[datetime, int]] | None:
    """Activity counts per 30 minutes over the 24 h before ``end``; None if unavailable."""
    end = to_utc(end or utcnow())
    start = end - WINDOW
    try:
        series = client.query(
            'SELECT sum("count") FROM activity_5m WHERE household = $household '
            f"AND time >= {int(start.timestamp())}s AND time < {int(end.timestamp())}s "
            "GROUP BY time(30m) fill(0)",
            household=household_id,
        )
    except InfluxError as exc:
        if "database not found" in str(exc):
            series = []
        else:
            return None
    counts: dict[datetime, int] = {}
    for item in series:
        for stamp, value in item.get("values", []):
            moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            counts[moment] = int(value or 0)
    first = datetime.fromtimestamp(
        start.timestamp() // BUCKET.total_seconds() * BUCKET.total_seconds(), start.tzinfo
    )
    slots = []
    moment = first
    while moment < end:
        slots.append((moment, counts.get(moment, 0)))
        moment += BUCKET
    return slots


def activity_svg(
    buckets: list[tuple[datetime, int]] | None,
    *,
    raised_at: datetime | None = None,
    lang: str = "ko",
) -> str:
    """Render the chart; bars per 30 minutes, the alert's time as a red line."""
    width, height, top, bottom = 288, 64, 4, 14
    if buckets is None:
        message = "활동 기록을 불러올 수 없습니다" if lang == "ko" else "Activity unavailable"
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'role="img" class="activity"><text x="4" y="36" font-size="11" fill="#888">'
            f"{escape(message)}</text></svg>"
        )
    total = sum(count for _, count in buckets)
    peak = max((count for _, count in buckets), default=0) or 1
    step = width / max(1, len(buckets))
    plot = height - top - bottom
    title = f"최근 24시간 활동 {total}건" if lang == "ko" else f"Activity in the last 24 h: {total}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="activity" data-total="{total}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="0" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#bbb" stroke-width="0.5"/>',
    ]
    for i, (moment, count) in enumerate(buckets):
        x = i * step
        if count:
            bar = max(1.5, plot * count / peak)
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{height - bottom - bar:.1f}" '
                f'width="{max(1.0, step - 1):.1f}" height="{bar:.1f}" fill="#3b7dd8">'
                f"<title>{in_seoul(moment):%H:%M} {count}</title></rect>"
            )
        local = in_seoul(moment)
        if local.minute == 0 and local.hour % 6 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 2}" font-size="9" fill="#666">'
                f"{local:%H}{'시' if lang == 'ko' else 'h'}</text>"
            )
    if raised_at is not None and buckets:
        start = buckets[0][0]
        span = (buckets[-1][0] + BUCKET - start).total_seconds()
        offset = (to_utc(raised_at) - start).total_seconds()
        if 0 <= offset <= span:
            x = width * offset / span
            parts.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" '
                'stroke="#d33" stroke-width="1.5"/>'
            )
    if total == 0:
        quiet = "24시간 동안 활동 없음" if lang == "ko" else "No activity in 24 h"
        parts.append(
            f'<text x="{width / 2}" y="{top + plot / 2 + 4}" font-size="11" fill="#b33" '
            f'text-anchor="middle">{escape(quiet)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
