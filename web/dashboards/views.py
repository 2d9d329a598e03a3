"""What each dashboard shows, assembled from :mod:`web.dashboards.queries`.

The HTML pages embed exactly what the JSON API returns, so a chart and the API never
disagree, and the benchmark times the same work a page load does.
"""

from __future__ import annotations

from typing import Any

from web.dashboards.queries import DashboardQueries
from web.dashboards.timerange import TimeRange


def _range(tr: TimeRange) -> dict[str, Any]:
    return {
        "start": int(tr.start.timestamp()),
        "end": int(tr.end.timestamp()),
        "step_s": int(tr.step.total_seconds()),
        "preset": tr.preset,
    }


def overview_data(
    queries: DashboardQueries, tr: TimeRange, centers: set[str] | None
) -> dict[str, Any]:
    """Events per second, device tiles, open alerts by dong and center, alerts per day."""
    return {
        "range": _range(tr),
        "events_rate": queries.events_rate(tr),
        "ingest": queries.ingest_outcomes(tr),
        "devices": queries.device_summary(centers),
        "open_alerts": queries.open_alerts(centers),
        "alerts_per_day": queries.alerts_per_day(tr, centers),
    }


def household_data(queries: DashboardQueries, household: str, tr: TimeRange) -> dict[str, Any]:
    """One household's activity timeline per kind, its alerts and its devices' health."""
    return {
        "household_id": household,
        "range": _range(tr),
        "activity": queries.household_activity(household, tr),
        "alerts": queries.household_alerts(household, tr),
        "devices": [row.as_dict() for row in queries.device_health(household)],
    }


def devices_data(
    queries: DashboardQueries, centers: set[str] | None, limit: int = 500
) -> dict[str, Any]:
    """Devices for installers' rounds: never-reported and silent first, then low batteries.

    Only devices that need someone are listed (``device_attention``); the rest are counted.
    """
    summary = queries.device_summary(centers)
    rows = queries.attention(summary["as_of"], centers)
    return {
        "summary": summary,
        "devices": [row.as_dict() for row in rows[:limit]],
        "truncated": len(rows) > limit,
    }
