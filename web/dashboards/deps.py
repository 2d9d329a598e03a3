"""Request-scoped helpers shared by the dashboards' pages and API."""

from __future__ import annotations

from datetime import timedelta

from fastapi import HTTPException, Request

from anbu.influx import InfluxClient
from config import Settings
from web.dashboards.exceptions import BadRangeError
from web.dashboards.queries import DashboardQueries
from web.dashboards.timerange import TimeRange, parse_range


def make_queries(settings: Settings) -> DashboardQueries:
    """The dashboards' queries against the configured InfluxDB."""
    series = settings.series
    # Two snapshot intervals and some slack: the newest snapshot is always inside.
    lookback = max(series.health_snapshot_interval * 2 + timedelta(minutes=1), timedelta(minutes=3))
    return DashboardQueries(
        InfluxClient.from_settings(settings),
        health_lookback=lookback,
        recent_retention=series.recent_retention,
    )


def queries_of(request: Request) -> DashboardQueries:
    """The app's :class:`DashboardQueries` (created at startup, or now if it was not run)."""
    queries = getattr(request.app.state, "dashboard_queries", None)
    if queries is None:
        queries = make_queries(request.app.state.settings)
        request.app.state.dashboard_queries = queries
    return queries


def range_of(
    range_: str | None, start: str | None, end: str | None
) -> TimeRange:
    """The picker's range, or 422 saying what is wrong with it."""
    try:
        return parse_range(range_, start, end)
    except BadRangeError as exc:
        raise HTTPException(422, str(exc)) from None
