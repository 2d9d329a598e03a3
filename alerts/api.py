"""The care-center inbox: ``/inbox`` (the page) and ``/api/v1/alerts`` (its API).

Staff see only their own center's alerts (tokens and roles from the registry,
``devices.auth``); operators see every center read-only; admins see and act on everything.
State changes go straight to the alert store that ``anbu alerts`` reads, so acknowledging
here stops escalation there.
"""

from __future__ import annotations

import json
from datetime import timedelta
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from alerts.activity import activity_buckets, activity_svg
from alerts.directory import StaticDirectory
from alerts.exceptions import AlertNotFound, TransitionRefused
from alerts.lifecycle import Channels, Lifecycle
from alerts.messages import label, labels
from alerts.model import Alert, AlertState
from alerts.schemas import AlertList, AlertOut, NoteIn, SessionIn
from alerts.store import AlertStore
from anbu.http_errors import status_for
from anbu.i18n import LANGS, both
from anbu.influx import InfluxClient
from anbu.timeutil import utcnow
from config import Settings
from devices.auth import TOKEN_COOKIE, get_principal, lookup_of
from devices.principals import Principal, Role, can_see_household

router = APIRouter(tags=["inbox"])

ACTING_ROLES = frozenset({Role.STAFF, Role.LEAD, Role.ADMIN})
SEVERITY_RANK = {"critical": 0, "high": 1, "warning": 2, "info": 3}
CLOSED_WINDOW = timedelta(hours=24)

PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def startup(app: FastAPI, settings: Settings) -> None:
    """Open the alert store and the InfluxDB client for the inbox."""
    app.state.alert_store = AlertStore.from_settings(settings)
    app.state.alert_influx = InfluxClient.from_settings(settings)


async def shutdown(app: FastAPI) -> None:
    """Close what :func:`startup` opened."""
    app.state.alert_store.close()
    app.state.alert_influx.close()


def _store(request: Request) -> AlertStore:
    store: AlertStore = request.app.state.alert_store
    return store


def _order(alert: Alert) -> tuple[Any, ...]:
    """Active first, SOS on top, then by severity, newest first."""
    return (
        not alert.state.active,
        alert.kind != "sos",
        SEVERITY_RANK.get(alert.severity, 9),
        -alert.opened_at.timestamp(),
    )


def _visible(request: Request, principal: Principal) -> list[Alert]:
    store = _store(request)
    since = utcnow() - CLOSED_WINDOW
    if principal.role in (Role.ADMIN, Role.OPERATOR) or principal.care_center_id is None:
        alerts = store.list_alerts(closed_since=since)
    else:
        # By the alert's center, and by the center's current households (an alert opened
        # before the registry told the service which center a household belongs to).
        households = lookup_of(request).households_of_center(principal.care_center_id)
        alerts = store.list_alerts(
            centers=[principal.care_center_id], households=households, closed_since=since
        )
    return sorted(alerts, key=_order)


def _get_visible(request: Request, principal: Principal, alert_id: str) -> Alert:
    try:
        alert = _store(request).get(alert_id, full=True)
    except AlertNotFound:
        alert = None
    if alert is not None and _may_see(request, principal, alert):
        return alert
    raise HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no alert {alert_id!r} in your inbox / 받은 편지함에 해당 알림이 없습니다",
    )


def _may_see(request: Request, principal: Principal, alert: Alert) -> bool:
    if can_see_household(principal, alert.care_center_id):
        return True
    if principal.care_center_id is None:
        return False
    return alert.household_id in lookup_of(request).households_of_center(principal.care_center_id)


@router.get("/api/v1/alerts", response_model=AlertList)
def list_alerts(request: Request, principal: PrincipalDep) -> AlertList:
    """The caller's inbox: active alerts (SOS on top), then those closed in the last 24 h."""
    return AlertList(
        alerts=[AlertOut.of(a) for a in _visible(request, principal)],
        viewer=principal.name,
        can_act=principal.role in ACTING_ROLES,
    )


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, request: Request, principal: PrincipalDep) -> AlertOut:
    """One alert with its history and notifications."""
    return AlertOut.of(_get_visible(request, principal, alert_id))


@router.get(
    "/api/v1/alerts/{alert_id}/activity.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def activity_chart(
    alert_id: str,
    request: Request,
    principal: PrincipalDep,
    lang: Annotated[str, Query(pattern="^(ko|en)$")] = "ko",
) -> Response:
    """The household's last 24 hours of activity (to the alert's close, if closed)."""
    alert = _get_visible(request, principal, alert_id)
    end = alert.closed_at if alert.closed_at is not None else utcnow()
    buckets = activity_buckets(request.app.state.alert_influx, alert.household_id, end)
    svg = activity_svg(buckets, raised_at=alert.raised_at, lang=lang)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def _act(
    request: Request, principal: Principal, alert_id: str, body: NoteIn, target: AlertState
) -> AlertOut:
    if principal.role not in ACTING_ROLES:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a {principal.role.value} token cannot change alerts / 이 토큰으로는 알림을 "
            "변경할 수 없습니다",
        )
    _get_visible(request, principal, alert_id)
    lifecycle = Lifecycle(_store(request), StaticDirectory(), Channels())
    actor = principal.name or principal.token_id
    try:
        if target is AlertState.ACKNOWLEDGED:
            lifecycle.acknowledge(alert_id, actor, body.note.strip(), utcnow())
        else:
            lifecycle.close(alert_id, target, actor, body.note.strip(), utcnow())
    except TransitionRefused as exc:
        # The table's status; the answer adds the state's Korean name to the message.
        raise HTTPException(
            status_for(TransitionRefused),
            f"{exc} / 이미 '{label('state', exc.state, 'ko')}' "
            "상태라 변경할 수 없습니다",
        ) from None
    return AlertOut.of(_store(request).get(alert_id, full=True))


@router.post("/api/v1/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: str, body: NoteIn, request: Request, principal: PrincipalDep) -> AlertOut:
    """Take responsibility for an open alert; escalation stops."""
    return _act(request, principal, alert_id, body, AlertState.ACKNOWLEDGED)


@router.post("/api/v1/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(alert_id: str, body: NoteIn, request: Request, principal: PrincipalDep) -> AlertOut:
    """Close an alert as dealt with."""
    return _act(request, principal, alert_id, body, AlertState.RESOLVED)


@router.post("/api/v1/alerts/{alert_id}/false-alarm", response_model=AlertOut)
def false_alarm(alert_id: str, body: NoteIn, request: Request, principal: PrincipalDep) -> AlertOut:
    """Close an alert as a false alarm (say why in the note)."""
    return _act(request, principal, alert_id, body, AlertState.FALSE_ALARM)


@router.post("/api/v1/alerts/session", status_code=204, response_class=Response)
def sign_in(body: SessionIn, request: Request) -> Response:
    """Check a token and keep it in an HTTP-only cookie for the inbox page."""
    if lookup_of(request).authenticate(body.token.strip()) is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked token / 유효하지 않거나 폐기된 토큰입니다",
        )
    response = Response(status_code=204)
    response.set_cookie(
        TOKEN_COOKIE,
        body.token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.delete("/api/v1/alerts/session", status_code=204, response_class=Response)
def sign_out() -> Response:
    """Forget the inbox cookie."""
    response = Response(status_code=204)
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/inbox", response_class=HTMLResponse, include_in_schema=False)
def inbox_page() -> HTMLResponse:
    """The inbox page (Korean by default; English by the switch or ``?lang=en``)."""
    page = files("alerts").joinpath("static/inbox.html").read_text(encoding="utf-8")
    page = page.replace("/*TEXT*/{}", json.dumps(both("inbox"), ensure_ascii=False))
    alert_words = {lang: labels(lang) for lang in LANGS}
    page = page.replace("/*LABELS*/{}", json.dumps(alert_words, ensure_ascii=False))
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
