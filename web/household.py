"""The household page a care worker opens from an alert: ``/inbox/households/{id}``.

One phone screen to decide whether to call or go: the resident and contacts (tel: links),
the address, the alert's reason and its actions, doorstep visits, the scheduled check-in
calls (schedule, latest outcomes, missed in a row, next call; never a number), the last 7
days of activity by hour beside what is usual for this resident, open and past alerts, and
the devices' health.

It is the inbox's page (the same people: staff, leads, admins; the same alert store and
actions; the same 404 for another center's household) but lives in ``web/``, because it
joins the alerts, the registry and the dashboards' series: ``web`` is the floor above all
three (docs/architecture.md). Unlike the operator dashboards it shows personal data, from
the registry database only; operators and installers get 404. Activity and device health
come from InfluxDB through the dashboards' own queries (:class:`DashboardQueries`), so the
two pages never count differently.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.api import ACTING_ROLES
from alerts.checkin_summary import call_status, call_summary
from alerts.messages import Group, label
from alerts.model import Alert
from alerts.store import AlertStore
from alerts.visits import (
    OUTCOME_TEXT,
    Visit,
    VisitIn,
    VisitList,
    VisitOut,
    VisitOutcome,
    list_visits,
    note_in,
    record_visit,
)
from anbu.call_schedule import DAYS
from anbu.timeutil import in_seoul, utcnow
from devices.auth import get_principal, lookup_of, optional_principal
from devices.lookup import HouseholdInfo
from devices.models import Contact, Household, Resident
from devices.principals import Principal, can_see_household
from web.dashboards.deps import queries_of
from web.dashboards.exceptions import SeriesUnavailableError
from web.dashboards.pages import duration_text
from web.dashboards.timerange import TimeRange
from web.household_chart import build_grid, grid_svg, week_start
from web.i18n import call_status_name, kind_name, room_name, schedule_words, words
from web.templating import TEMPLATES

router = APIRouter(tags=["inbox"])

PAST_ALERTS = timedelta(days=30)
SHOWN_VISITS = 20  # the page shows the latest ones; the API lists more
HISTORY = timedelta(days=21)  # the weeks before the shown week that make "usual"
_STYLE_RE = re.compile(r"<style>(.*?)</style>", re.S)

def _inbox_style() -> str:
    """The inbox's stylesheet, taken from its page so the two never drift apart."""
    page = files("alerts").joinpath("static/inbox.html").read_text(encoding="utf-8")
    found = _STYLE_RE.search(page)
    return found.group(1) if found else ""


def _not_found(household_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no household {household_id!r} in your center / 담당 센터에 해당 가구가 없습니다",
    )


def _people(
    request: Request, household_id: str
) -> tuple[list[Resident], list[Contact], Household | None]:
    """Residents, contacts (tier 1 first, with their relation) and the household's row."""
    with Session(lookup_of(request).engine) as session:
        residents = list(
            session.scalars(
                select(Resident)
                .where(Resident.household_id == household_id, Resident.retired_at.is_(None))
                .order_by(Resident.id)
            )
        )
        contacts = list(
            session.scalars(
                select(Contact)
                .where(Contact.household_id == household_id, Contact.retired_at.is_(None))
                .order_by(Contact.tier, Contact.id)
            )
        )
        row = session.get(Household, household_id)
        session.expunge_all()
        return residents, contacts, row


def _activity(request: Request, household_id: str, lang: str, alert: Alert | None
              ) -> dict[str, Any]:
    """The week grid and its summary numbers, or ``{"unavailable": True}``."""
    now = utcnow()
    start = week_start(now)
    hour = timedelta(hours=1)
    queries = queries_of(request)
    try:
        week = queries.household_activity(household_id, TimeRange(start, now, hour, "7d"))
        history = queries.household_activity(
            household_id, TimeRange(start - HISTORY, start, hour, "custom")
        )
    except SeriesUnavailableError:
        return {"unavailable": True}
    grid = build_grid(week, history, start, now)
    raised = alert.raised_at if alert is not None and alert.raised_at >= start else None
    cells = [v for row in grid.counts for v in row if v is not None]
    return {
        "unavailable": False,
        "svg": grid_svg(grid, lang, raised),
        "last24": int(sum(cells[-24:])),
        "usual_day": round(sum(grid.usual)) if grid.usual is not None else None,
        "quiet": grid.quiet_cells(),
    }


def _devices(request: Request, household_id: str) -> list[dict[str, Any]] | None:
    try:
        return [row.as_dict() for row in queries_of(request).device_health(household_id)]
    except SeriesUnavailableError:
        return None


def _visible_household(
    request: Request, principal: Principal, household_id: str
) -> HouseholdInfo:
    """The household; 404 unless ``principal`` is a person of its own center (or an admin)."""
    info = lookup_of(request).household(household_id)
    if (
        info is None
        or principal.role not in ACTING_ROLES
        or not can_see_household(principal, info.care_center_id)
    ):
        raise _not_found(household_id)
    return info


@router.get("/inbox/households/{household_id}", response_class=HTMLResponse,
            include_in_schema=False)
def household_page(
    request: Request,
    household_id: str,
    alert: Annotated[str | None, Query(max_length=200)] = None,
    lang: Annotated[str, Query(pattern="^(ko|en)$")] = "ko",
) -> Response:
    """The page (Korean by default; ``?lang=en``); without a session, the sign-in page."""
    principal = optional_principal(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status.HTTP_303_SEE_OTHER)
    info = _visible_household(request, principal, household_id)
    store: AlertStore = request.app.state.alert_store
    now = utcnow()
    alerts = store.list_alerts(households=[household_id], closed_since=now - PAST_ALERTS, limit=50)
    current = next((a for a in alerts if a.id == alert), None)
    if current is None:
        current = next((a for a in alerts if a.state.active), None)
    residents, contacts, row = _people(request, household_id)
    center = lookup_of(request).care_center(info.care_center_id)
    visits = list_visits(store, households=[household_id], limit=SHOWN_VISITS)

    def word(group: Group, key: str) -> str:
        return label(group, key, lang)

    def when(moment: Any) -> str:
        return in_seoul(moment).strftime("%m-%d %H:%M") if moment is not None else ""

    def day_when(moment: datetime) -> str:
        """``12-08 (화) 10:00``: a call's time with its weekday, as the schedule names days."""
        local = in_seoul(moment)
        day = words("call_days", lang)[DAYS[local.weekday()]]
        return f"{local:%m-%d} ({day}) {local:%H:%M}"

    return TEMPLATES.TemplateResponse(
        request,
        "household.html",
        {
            "lang": lang,
            "other_lang": "en" if lang == "ko" else "ko",
            "t": words("household", lang),
            "word": word,
            "when": when,
            "style": _inbox_style(),
            "household": info,
            "address": row.address if row is not None else None,
            "residents": residents,
            "contacts": contacts,
            "center": center,
            "current": current,
            "alerts": alerts,
            "can_act": principal.role in ACTING_ROLES,
            "viewer": principal.name,
            "activity": _activity(request, household_id, lang, current),
            "devices": _devices(request, household_id),
            "visits": visits,
            "note_in": lambda note: note_in(note, lang),
            "visits_on_alert": _during(visits, current),
            "calls": call_summary(
                store, household_id, row.checkin_schedule if row is not None else None, now
            ),
            "schedule_words": lambda schedule: schedule_words(schedule, lang),
            "call_status": lambda call: call_status(call).value,
            "status_name": lambda status: call_status_name(status, lang),
            "day_when": day_when,
            "missed_limit": request.app.state.settings.alerts.checkin_missed_in_row,
            "outcomes": [(o.value, OUTCOME_TEXT[o][lang]) for o in VisitOutcome],
            "duration": lambda seconds: duration_text(seconds, lang),
            "device_kind": lambda kind: kind_name(kind, lang),
            "room": lambda room: room_name(room, lang),
        },
        headers={"Cache-Control": "no-store"},
    )


def _during(visits: list[Visit], alert: Alert | None) -> list[Visit]:
    """The visits recorded while ``alert`` was active (what the worker found meanwhile)."""
    if alert is None:
        return []
    return [
        v for v in visits
        if v.at >= alert.opened_at and (alert.closed_at is None or v.at <= alert.closed_at)
    ]


@router.post(
    "/api/v1/households/{household_id}/visits", response_model=VisitOut, status_code=201
)
def post_visit(
    household_id: str,
    body: VisitIn,
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
) -> VisitOut:
    """Record a doorstep visit (staff of the household's center; others get 404).

    "Seen and well" resolves the household's open quiet-home alerts with the visit as the
    reason; "not at home" and "concern noted" are noted on them and leave them open. An SOS
    is never closed by a visit.
    """
    info = _visible_household(request, principal, household_id)
    result = record_visit(
        request.app.state.alert_store,
        household_id=household_id,
        care_center_id=info.care_center_id,
        outcome=body.outcome,
        note=body.note.strip(),
        recorded_by=principal.name or principal.token_id,
        now=utcnow(),
    )
    return VisitOut.of(result.visit, result)


@router.get("/api/v1/households/{household_id}/visits", response_model=VisitList)
def get_visits(
    household_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> VisitList:
    """The household's recorded visits, latest first (staff of its center; others get 404)."""
    _visible_household(request, principal, household_id)
    visits = list_visits(request.app.state.alert_store, households=[household_id], limit=limit)
    return VisitList(visits=[VisitOut.of(v) for v in visits])
