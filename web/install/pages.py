"""The installer app's two pages, ``/install`` and ``/install/households/{id}``.

``/install`` finds or registers a household; the household's page registers its gateway,
adds devices and shows the live commissioning check.

Phone-first, Korean by default; the language follows ``?lang=`` and is remembered in the
dashboards' language cookie, so every page of anbu switches alike. Without a session the
person is sent to ``/signin`` and back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.auth import lookup_of, optional_principal
from devices.models import CareCenter, Household
from devices.principals import Principal, can_see_household
from web.i18n import KINDS, LANG_COOKIE, pick_lang, room_names, words
from web.install.deps import INSTALLERS

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
router = APIRouter(include_in_schema=False)

POLL_MS = 3000
"""How often the page asks for the commissioning check (a first report shows within this)."""

Lang = Annotated[str | None, Query(pattern="^(ko|en)$")]


def _json(data: Any) -> str:
    # "<" escaped so no value can close the <script> element it is embedded in.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _render(
    request: Request,
    principal: Principal,
    lang_param: str | None,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    lang = pick_lang(lang_param, request.cookies.get(LANG_COOKIE),
                     request.headers.get("accept-language"))
    other = "en" if lang == "ko" else "ko"
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    text = words("install", lang)
    kinds = words("device_kind", lang)
    page_data = {
        "lang": lang,
        "t": text,
        "kinds": {kind: kinds[kind] for kind in KINDS},
        "formats": words("source_format", lang),
        "rooms": words("room", lang),
        "room_names": room_names(lang),
        "poll_ms": POLL_MS,
        **context.get("data", {}),
    }
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": text,
            "other_lang_url": f"{request.url.path}?{urlencode({**params, 'lang': other})}",
            "viewer": principal.name,
            "kinds": page_data["kinds"],
            "rooms": page_data["rooms"],
            "formats": page_data["formats"],
            "page_json": _json(page_data),
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
    if lang_param in ("ko", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def _person(request: Request, lang: str | None) -> Principal | Response:
    """The signed-in installer or admin; else the sign-in page, or 403 for another role."""
    principal = optional_principal(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status.HTTP_303_SEE_OTHER)
    if principal.role not in INSTALLERS:
        return _render(request, principal, lang, "install_refused.html",
                       {"message_key": "not_installer"}, status.HTTP_403_FORBIDDEN)
    return principal


@router.get("/install", response_class=HTMLResponse)
def find_page(request: Request, lang: Lang = None) -> Response:
    """Find a household of the installer's center, or register a new one."""
    found = _person(request, lang)
    if isinstance(found, Response):
        return found
    with Session(lookup_of(request).engine) as session:
        query = select(CareCenter).where(CareCenter.retired_at.is_(None)).order_by(CareCenter.id)
        if found.care_center_id is not None:
            query = query.where(CareCenter.id == found.care_center_id)
        centers = [{"id": c.id, "name": c.name, "dongs": list(c.dongs or [])}
                   for c in session.scalars(query)]
    return _render(request, found, lang, "install_find.html",
                   {"centers": centers, "data": {"centers": centers}})


@router.get("/install/households/{household_id}", response_class=HTMLResponse)
def household_page(request: Request, household_id: str, lang: Lang = None) -> Response:
    """One household: register its gateway, add devices, watch them report."""
    found = _person(request, lang)
    if isinstance(found, Response):
        return found
    with Session(lookup_of(request).engine) as session:
        row = session.get(Household, household_id)
        visible = (row is not None and row.retired_at is None
                   and can_see_household(found, row.care_center_id))
        household = {"id": row.id, "dong": row.dong, "care_center_id": row.care_center_id
                     } if row is not None and visible else None
    if household is None:
        return _render(request, found, lang, "install_refused.html",
                       {"message_key": "not_found"}, status.HTTP_404_NOT_FOUND)
    return _render(request, found, lang, "install_household.html",
                   {"household": household, "data": {"household": household}})
