"""The dashboards' HTML pages (Jinja templates, charts drawn by the vendored uPlot)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.messages import label
from anbu.timeutil import from_epoch, in_seoul, utcnow
from devices.auth import lookup_of, optional_principal
from devices.principals import Principal
from web.dashboards.access import center_scope, may_see_household
from web.dashboards.deps import queries_of
from web.dashboards.exceptions import BadRangeError, SeriesUnavailableError
from web.dashboards.queries import valid_id
from web.dashboards.timerange import PRESETS, TimeRange, parse_range
from web.dashboards.views import devices_data, household_data, overview_data
from web.i18n import LANG_COOKIE, kind_name, pick_lang, room_name, translator, words
from web.install.api import INSTALLERS
from web.templating import TEMPLATES

router = APIRouter(include_in_schema=False)

SIGNIN = "/signin"  # people sign in with their account (web.accounts)


def seoul_time(epoch: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Epoch seconds shown in Asia/Seoul."""
    if epoch is None:
        return "-"
    return in_seoul(from_epoch(epoch)).strftime(fmt)


def duration_text(seconds: int | None, lang: str) -> str:
    """``3일 4시간`` / ``3d 4h``: the two largest units."""
    if seconds is None:
        return "-"
    units = (("일", "d", 86400), ("시간", "h", 3600), ("분", "m", 60))
    parts = []
    rest = int(seconds)
    for ko, en, size in units:
        if rest >= size:
            parts.append(f"{rest // size}{ko if lang == 'ko' else en}")
            rest %= size
        if len(parts) == 2:
            break
    if not parts:
        return f"{rest}{'초' if lang == 'ko' else 's'}"
    return " ".join(parts)


def _json_script(data: Any) -> str:
    # "<" escaped so no value can close the <script> element it is embedded in.
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


class Page:
    """What every page's template needs: language, caller, range picker."""

    def __init__(
        self, request: Request, principal: Principal | None, lang_param: str | None
    ) -> None:
        self.request = request
        self.principal = principal
        self.lang = pick_lang(
            lang_param,
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
        self.lang_param = lang_param
        self.t = translator(self.lang)

    def render(
        self,
        template: str,
        context: dict[str, Any],
        status_code: int = 200,
        tr: TimeRange | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """``template`` with the language, caller and picker, plus ``context``."""
        other = "en" if self.lang == "ko" else "ko"
        params = {k: v for k, v in self.request.query_params.items() if k != "lang"}
        response = TEMPLATES.TemplateResponse(
            self.request,
            template,
            {
                "t": self.t,
                "lang": self.lang,
                "other_lang_url": f"{self.request.url.path}?{urlencode({**params, 'lang': other})}",
                "principal": self.principal,
                "may_install": self.principal is not None and self.principal.role in INSTALLERS,
                "presets": list(PRESETS),
                "tr": tr,
                "range_start_local": seoul_time(int(tr.start.timestamp())) if tr else "",
                "range_end_local": seoul_time(int(tr.end.timestamp())) if tr else "",
                "seoul_time": seoul_time,
                "duration": lambda s: duration_text(s, self.lang),
                "kind_name": lambda kind: kind_name(kind, self.lang),
                "room_name": lambda room: room_name(room, self.lang),
                "alert_kind": lambda kind: label("kind", kind, self.lang),
                # The charts' script names the activity kinds with the same words.
                "words_json": _json_script({"event_kind": words("event_kind", self.lang)}),
                "path": self.request.url.path,
                **context,
            },
            status_code=status_code,
            headers=headers,
        )
        if self.lang_param in ("ko", "en"):
            response.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, samesite="lax")
        return response


def _signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{SIGNIN}?next={quote(target)}", status.HTTP_303_SEE_OTHER)


def _page_range(range_: str | None, start: str | None, end: str | None) -> TimeRange:
    # The picker sends Seoul wall time without an offset: "2026-12-03 09:00" or "2026-12-03".
    def local(text: str | None) -> str | None:
        wall = (text or "").strip().replace(" ", "T")
        if len(wall) == 10:
            wall += "T00:00"
        if len(wall) == 16 and wall[10] == "T":
            return wall + ":00+09:00"
        return text

    return parse_range(range_, local(start), local(end))


@dataclass(frozen=True, slots=True)
class PickerParams:
    """The range picker's and language switch's query parameters."""

    range_: str | None
    start: str | None
    end: str | None
    lang: str | None


def _picker(
    range_: Annotated[str | None, Query(alias="range")] = None,
    start: str | None = None,
    end: str | None = None,
    lang: str | None = None,
) -> PickerParams:
    return PickerParams(range_, start, end, lang)


Picker = Annotated[PickerParams, Depends(_picker)]


def _ranged_page(
    request: Request,
    picker: PickerParams,
    template: str,
    build: Callable[[Principal, TimeRange], dict[str, Any]],
    allowed: Callable[[Principal], bool] = lambda _p: True,
) -> Response:
    """Sign-in check, range picker, data, and the error pages every ranged page shares."""
    principal = optional_principal(request)
    if principal is None:
        return _signin_redirect(request)
    page = Page(request, principal, picker.lang)
    if not allowed(principal):
        return page.render("dash_error.html", {"message": page.t("not_yours")}, 404)
    try:
        tr = _page_range(picker.range_, picker.start, picker.end)
    except BadRangeError as exc:
        return page.render("dash_error.html", {"message": str(exc)}, 422)
    try:
        context = build(principal, tr)
    except SeriesUnavailableError:
        return page.render("dash_error.html", {"message": page.t("unavailable")}, 503, tr)
    context["data_json"] = _json_script(context["data"])
    return page.render(template, context, tr=tr)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, picker: Picker) -> Response:
    """The overview: event rate, device health tiles, open alerts, alerts per day."""
    return _ranged_page(
        request,
        picker,
        "dash_overview.html",
        lambda principal, tr: {
            "data": overview_data(queries_of(request), tr, center_scope(principal))
        },
    )


@router.get("/households", response_class=HTMLResponse)
def household_search(household_id: str = "") -> Response:
    """The nav bar's household box: go to the household page."""
    if not valid_id(household_id.strip()):
        return RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    return RedirectResponse(f"/households/{household_id.strip()}", status.HTTP_303_SEE_OTHER)


@router.get("/households/{household_id}", response_class=HTMLResponse)
def household_page(request: Request, household_id: str, picker: Picker) -> Response:
    """One household: activity timeline per device kind with alerts marked, device health."""
    return _ranged_page(
        request,
        picker,
        "dash_household.html",
        lambda _principal, tr: {
            "data": household_data(queries_of(request), household_id, tr),
            "info": lookup_of(request).household(household_id),
        },
        lambda principal: valid_id(household_id)
        and may_see_household(request, principal, household_id),
    )


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, lang: str | None = None, limit: int = 500) -> Response:
    """Devices for installers' rounds: silent first, then low batteries; how long, where."""
    principal = optional_principal(request)
    if principal is None:
        return _signin_redirect(request)
    page = Page(request, principal, lang)
    try:
        data = devices_data(queries_of(request), center_scope(principal), max(1, limit))
    except SeriesUnavailableError:
        return page.render("dash_error.html", {"message": page.t("unavailable")}, 503)
    now = int(utcnow().timestamp())
    as_of = data["summary"]["as_of"]
    stale = as_of is None or now - as_of > 3 * 3600
    return page.render(
        "dash_devices.html", {"data": data, "data_json": _json_script(data), "stale": stale}
    )


def safe_next(target: str) -> str:
    """``target`` if it is a path of this site, else ``/``."""
    # Only same-site paths: an open redirect would hand the token page to anyone's link.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

