"""Request-scoped helpers shared by the dashboards' pages and API."""

from __future__ import annotations

from fastapi import HTTPException, Request

from web.dashboards.exceptions import BadRangeError
from web.dashboards.queries import DashboardQueries
from web.dashboards.timerange import TimeRange, parse_range


def queries_of(request: Request) -> DashboardQueries:
    """The app's :class:`DashboardQueries` (created at startup, or now if it was not run)."""
    queries = getattr(request.app.state, "dashboard_queries", None)
    if queries is None:
        from web.dashboards import make_queries

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
