"""The weekly review of a care center in ``anbu web``: ``/inbox/centers/{id}/review``.

Each household's week against its own last eight weeks, ranked by how far its pattern
declined, with the week's doorstep visits, alerts, missed check-in calls and devices to
check beside it: the week's visit plan, in Korean or English, to read, to print (A4
landscape) and to download as CSV (``review.csv``, the same rows).

The verdicts come from the review core (:mod:`detectors.review`) fed with the events the
series writer keeps for it in InfluxDB (:mod:`timeseries.review_input`); visits and alerts
from the alert store; devices to check from the newest device-health snapshot. Like the
household page it is for the center's people (staff, leads, admins): anyone else, and staff
of another center, get 404.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Annotated, NamedTuple
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.api import ACTING_ROLES
from alerts.store import AlertStore
from alerts.visits import list_visits
from anbu.influx import InfluxClient, InfluxError
from anbu.timeutil import from_epoch, utcnow
from detectors.review import (
    HISTORY_WEEKS,
    Judgement,
    parse_week,
    review_rows,
    week_dates,
    week_label,
    week_of,
    week_start,
)
from devices.auth import lookup_of, optional_principal
from devices.lookup import CareCenterInfo
from devices.models import Household, Resident
from devices.principals import Principal, can_see_household
from timeseries.exceptions import SeriesError
from timeseries.review_input import read_rows
from web.dashboards.deps import queries_of
from web.dashboards.exceptions import SeriesUnavailableError
from web.i18n import words
from web.review_plan import HEAD, PlanRow, plan_rows, week_facts
from web.templating import TEMPLATES

router = APIRouter(tags=["inbox"])

_MOST_ALERTS = 10_000  # a center's alerts of a week; far above any real week
KEEP_JUDGED = timedelta(minutes=10)
"""How long a closed week's verdicts are reused (late events reach them after this)."""
READ_TIMEOUT_S = 120.0
_MOST_KEPT = 64  # (center, week) verdicts kept

def _not_found(center_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no care center {center_id!r} of yours / 담당 센터가 아닙니다",
    )


def _center(request: Request, principal: Principal, center_id: str) -> CareCenterInfo:
    """The center; 404 unless ``principal`` is one of its people (or an admin)."""
    center = lookup_of(request).care_center(center_id)
    if (
        center is None
        or principal.role not in ACTING_ROLES
        or not can_see_household(principal, center_id)
    ):
        raise _not_found(center_id)
    return center


def _households(request: Request, center_id: str) -> tuple[list[str], dict[str, str]]:
    """The center's households (not retired) and a resident's name for each."""
    with Session(lookup_of(request).engine) as session:
        ids = list(
            session.scalars(
                select(Household.id)
                .where(Household.care_center_id == center_id, Household.retired_at.is_(None))
                .order_by(Household.id)
            )
        )
        names: dict[str, str] = {}
        for hid, name in session.execute(
            select(Resident.household_id, Resident.name)
            .where(Resident.household_id.in_(ids), Resident.retired_at.is_(None))
            .order_by(Resident.id)
        ):
            names.setdefault(hid, name)
    return ids, names


def _devices_to_check(request: Request, center_id: str) -> dict[str, int]:
    """Devices needing an installer in the newest health snapshot, per household."""
    queries = queries_of(request)
    try:
        as_of = queries.device_summary({center_id}).get("as_of")
        rows = queries.attention(as_of, {center_id})
    except SeriesUnavailableError:
        return {}
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.household_id] = counts.get(row.household_id, 0) + 1
    return counts


def _week(week: str | None) -> int:
    """The asked week, or the last whole one (the week before this one, Seoul time)."""
    if week is None:
        return week_of(utcnow().timestamp()) - 1
    try:
        return parse_week(week)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def build_plan(
    request: Request, center_id: str, week: int, lang: str
) -> list[PlanRow] | None:
    """The center's plan for ``week``; None when InfluxDB cannot give the events."""
    households, names = _households(request, center_id)
    start, end = from_epoch(week_start(week)), from_epoch(week_start(week + 1))
    ranked = _judged(request, center_id, households, week)
    if ranked is None:
        return None
    store: AlertStore = request.app.state.alert_store
    alerts = store.list_alerts(centers=[center_id], closed_since=start, limit=_MOST_ALERTS)
    visits = list_visits(store, centers=[center_id], since=start, until=end, limit=_MOST_ALERTS)
    facts = week_facts(households, alerts, visits, _devices_to_check(request, center_id),
                       start, end)
    return plan_rows(ranked, households, names, facts, lang)


def _judged(
    request: Request, center_id: str, households: list[str], week: int
) -> list[Judgement] | None:
    """The review core's ranked verdicts of the week, replayed from InfluxDB.

    Nine weeks of a center's events are many points (100 households: about 775,000, read
    in 15-40 s on the 2-core test machine), so a closed week's verdicts are kept a while
    (:data:`KEEP_JUDGED`): the CSV and the other language after a page view come at once.
    The week still running is replayed every time.
    """
    now = utcnow()
    end = min(week_start(week + 1), now.timestamp())
    key = (center_id, week, tuple(households))
    cache: dict[tuple[str, int, tuple[str, ...]], tuple[float, list[Judgement]]] | None
    cache = getattr(request.app.state, "review_judged", None)
    if cache is None:
        cache = request.app.state.review_judged = {}
    kept = cache.get(key)
    if kept is not None and now.timestamp() - kept[0] < KEEP_JUDGED.total_seconds():
        return kept[1]
    settings = request.app.state.settings
    # one query reads up to 100 households' nine weeks: far longer than a dashboard's
    patient = settings.influx.model_copy(
        update={"timeout_s": max(settings.influx.timeout_s, READ_TIMEOUT_S)}
    )
    client = InfluxClient.from_settings(settings.model_copy(update={"influx": patient}))
    try:
        rows = read_rows(client, households, from_epoch(week_start(week - HISTORY_WEEKS)),
                         from_epoch(end))
    except (InfluxError, SeriesError):
        return None
    finally:
        client.close()
    ranked = review_rows(rows, end=end).ranked(week)
    if end >= week_start(week + 1):
        if len(cache) >= _MOST_KEPT:
            cache.pop(min(cache, key=lambda k: cache[k][0]))
        cache[key] = (now.timestamp(), ranked)
    return ranked


def _signed_in(request: Request) -> Principal | RedirectResponse:
    principal = optional_principal(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status.HTTP_303_SEE_OTHER)
    return principal


# the query of the page and its CSV: an ISO week (``2026-W48``) and the language
Week = Annotated[str | None, Query(max_length=10)]
Lang = Annotated[str, Query(pattern="^(ko|en)$")]


class _Asked(NamedTuple):
    principal: Principal
    center: CareCenterInfo
    week: int
    rows: list[PlanRow] | None


def _asked(
    request: Request, center_id: str, week: str | None, lang: str
) -> _Asked | RedirectResponse:
    """Who asks for which center's week, and its plan; a sign-in redirect for nobody."""
    principal = _signed_in(request)
    if isinstance(principal, RedirectResponse):
        return principal
    center = _center(request, principal, center_id)
    wanted = _week(week)
    return _Asked(principal, center, wanted, build_plan(request, center_id, wanted, lang))


@router.get("/inbox/review", include_in_schema=False)
def own_review(request: Request) -> Response:
    """The signed-in person's own center's review."""
    principal = _signed_in(request)
    if isinstance(principal, RedirectResponse):
        return principal
    if principal.care_center_id is None or principal.role not in ACTING_ROLES:
        raise _not_found("?")
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(
        f"/inbox/centers/{quote(principal.care_center_id)}/review{query}",
        status.HTTP_303_SEE_OTHER,
    )


@router.get("/inbox/centers/{center_id}/review", response_class=HTMLResponse,
            include_in_schema=False)
def review_page(request: Request, center_id: str, week: Week = None, lang: Lang = "ko") -> Response:
    """The page (Korean by default; ``?lang=en``, ``?week=2026-W48``)."""
    asked = _asked(request, center_id, week, lang)
    if isinstance(asked, RedirectResponse):
        return asked
    principal, center, wanted, rows = asked
    text = words("review", lang)
    first, last = week_dates(wanted)
    this_week = week_of(utcnow().timestamp())
    return TEMPLATES.TemplateResponse(
        request,
        "review.html",
        {
            "lang": lang,
            "other_lang": "en" if lang == "ko" else "ko",
            "t": text,
            "title": f"{center.name}: "
            + text["title"].format(week=week_label(wanted), first=first, last=last),
            "week": week_label(wanted),
            "previous": week_label(wanted - 1),
            "next": week_label(wanted + 1) if wanted < this_week else None,
            "center_id": center_id,
            "head": HEAD[lang],
            "rows": rows,
            "viewer": principal.name,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/inbox/centers/{center_id}/review.csv", include_in_schema=False)
def review_csv(request: Request, center_id: str, week: Week = None, lang: Lang = "ko") -> Response:
    """The page's rows as CSV (UTF-8 with a byte-order mark, so Excel shows the Korean)."""
    asked = _asked(request, center_id, week, lang)
    if isinstance(asked, RedirectResponse):
        return asked
    _, _, wanted, rows = asked
    if rows is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            words("review", lang)["unavailable"])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEAD[lang])
    writer.writerows(row.cells for row in rows)
    name = f"review-{center_id}-{week_label(wanted)}.csv"
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )

