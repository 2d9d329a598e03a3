"""What each dashboard shows, assembled from :mod:`web.dashboards.queries`.

The HTML pages embed exactly what the JSON API returns, so a chart and the API never
disagree, and the benchmark times the same work a page load does.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from web.dashboards.queries import DashboardQueries
from web.dashboards.timerange import TimeRange

# A page's queries run side by side: its load time is the slowest query, not their sum.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dashboard-query")


def _together(parts: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    futures = {name: _POOL.submit(part) for name, part in parts.items()}
    return {name: future.result() for name, future in futures.items()}


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
        **_together(
            {
                "events_rate": lambda: queries.events_rate(tr),
                "ingest": lambda: queries.ingest_outcomes(tr),
                "devices": lambda: queries.device_summary(centers),
                "open_alerts": lambda: queries.open_alerts(centers),
                "alerts_per_day": lambda: queries.alerts_per_day(tr, centers),
                "series_status": queries.series_status,
            }
        ),
    }


def household_data(queries: DashboardQueries, household: str, tr: TimeRange) -> dict[str, Any]:
    """One household's activity timeline per kind, its alerts and its devices' health."""
    return {
        "household_id": household,
        "range": _range(tr),
        **_together(
            {
                "activity": lambda: queries.household_activity(household, tr),
                "alerts": lambda: queries.household_alerts(household, tr),
                "devices": lambda: [row.as_dict() for row in queries.device_health(household)],
            }
        ),
    }


def devices_data(
    queries: DashboardQueries, centers: set[str] | None, limit: int = 500
) -> dict[str, Any]:
    """Devices for installers' rounds: never-reported and silent first, then low batteries.

    Only devices that need someone are listed (``device_attention``); the rest are counted.
    """
    summary = queries.device_summary(centers)
    rows = queries.attention(summary["as_of"], centers, summary["snapshots"])
    return {
        "summary": summary,
        "devices": [row.as_dict() for row in rows[:limit]],
        "truncated": len(rows) > limit,
    }
