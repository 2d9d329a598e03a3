"""JSON of the dashboards, under ``/api/v1/dashboard``: what the pages draw, for scripts too.

InfluxDB being unreachable answers 503 with the reason, never empty charts that would look
like quiet homes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from anbu.http_errors import ErrorRoute
from devices.auth import get_principal
from devices.principals import Principal
from web.dashboards.access import center_scope, may_see_household
from web.dashboards.deps import queries_of, range_of
from web.dashboards.queries import valid_id
from web.dashboards.timerange import TimeRange
from web.dashboards.views import devices_data, household_data, overview_data

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboards"], route_class=ErrorRoute)


def _range(
    range_: Annotated[
        str | None,
        Query(alias="range", description="Preset: 1h, 6h, 24h, 7d, 30d, 90d, 365d (default 24h)."),
    ] = None,
    start: Annotated[
        str | None, Query(description="ISO 8601 start with timezone; overrides range.")
    ] = None,
    end: Annotated[
        str | None, Query(description="ISO 8601 end with timezone; default now.")
    ] = None,
) -> TimeRange:
    return range_of(range_, start, end)


Range = Annotated[TimeRange, Depends(_range)]
Caller = Annotated[Principal, Depends(get_principal)]


@router.get("/overview")
def overview(request: Request, principal: Caller, tr: Range) -> dict[str, Any]:
    """Events per second, device health counts, open alerts by dong and center, alerts/day."""
    return overview_data(queries_of(request), tr, center_scope(principal))


@router.get("/households/{household_id}")
def household(request: Request, household_id: str, principal: Caller, tr: Range) -> dict[str, Any]:
    """One household's activity per device kind, its alerts and its devices' health."""
    if not valid_id(household_id):
        raise HTTPException(422, "household_id must be 1-64 letters, digits or . _ : @ -")
    if not may_see_household(request, principal, household_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such household in your care center")
    return household_data(queries_of(request), household_id, tr)


@router.get("/devices")
def devices(
    request: Request,
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 500,
) -> dict[str, Any]:
    """Devices, silent and never-reported first, then low batteries, with where and how long."""
    return devices_data(queries_of(request), center_scope(principal), limit)

