"""Signing people in and out, and the account management page.

``/signin`` (user name and password) sets the ``anbu_session`` cookie (HttpOnly, SameSite=Lax,
Secure when served over TLS) that the inbox, the dashboards and the registry API accept like a
token; ``/signout`` ends the session. ``/accounts`` lets an admin or a center lead create
accounts, reset passwords and disable accounts. ``/api/v1/session`` does the sign-in for
pages that work by ``fetch`` (the inbox). The rules live in :mod:`devices.accounts`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anbu.timeutil import in_seoul, utcnow
from config import Settings
from devices import accounts
from devices.accounts import Account, AccountError, AccountLocked, AuditEntry
from devices.auth import SESSION_COOKIE, TOKEN_COOKIE, lookup_of, optional_principal
from devices.exceptions import RegistryError
from devices.models import CareCenter
from devices.principals import Principal, Role
from web.dashboards.pages import Page, safe_next
from web.limits import SignInLimit, SignInThrottled

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["accounts"])

MANAGERS = (Role.ADMIN, Role.LEAD)
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sign-ins change no registry data, and the inbox's own actions are kept with the alert.
_NOT_AUDITED = ("/signin", "/api/v1/session")


def _engine(request: Request) -> Engine:
    return lookup_of(request).engine


def _landing(role: Role) -> str:
    """Where a person lands after signing in without a ``next``."""
    return {Role.STAFF: "/inbox", Role.LEAD: "/inbox", Role.INSTALLER: "/install"}.get(role, "/")


def _seoul(moment: datetime | None) -> str:
    return in_seoul(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _signin_limit(request: Request) -> SignInLimit:
    """The app's count of sign-in attempts per address (``web.signin_rate``), made at first use."""
    state = request.app.state
    if getattr(state, "signin_limit", None) is None:
        settings: Settings = state.settings
        state.signin_limit = SignInLimit(settings.web.signin_rate)
    limit: SignInLimit = state.signin_limit
    return limit


def _sign_in(request: Request, username: str, password: str) -> tuple[Account, str]:
    """Check the password and open a session (failures are counted even when refused).

    Raises:
        SignInThrottled: the client's address has tried too often; nothing was checked.
    """
    _signin_limit(request).hit(request)
    with Session(_engine(request)) as session:
        try:
            account = accounts.authenticate(session, username, password)
            raw = accounts.start_session(session, account)
        finally:
            session.commit()
        session.refresh(account)
        session.expunge(account)
    return account, raw


def _set_session(request: Request, response: Response, raw: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
    )
    # A token kept from an earlier sign-in must not outlive the person's session.
    response.delete_cookie(TOKEN_COOKIE)


def _refusal(page: Page, exc: AccountError) -> str:
    if isinstance(exc, AccountLocked):
        return page.t("locked").format(until=_seoul(exc.until))
    return page.t("bad_credentials")


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "", lang: str | None = None) -> Response:
    """The sign-in form."""
    page = Page(request, None, lang)
    return page.render("acc_signin.html", {"next": safe_next(next) if next else "", "error": None})


@router.post("/signin", response_class=HTMLResponse)
def signin(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the user name and password; on success keep the session in a cookie."""
    try:
        account, raw = _sign_in(request, username, password)
    except SignInThrottled as exc:
        page = Page(request, None, None)
        context = {"next": safe_next(next) if next else "", "username": username,
                   "error": page.t("throttled").format(seconds=exc.retry_after)}
        return page.render("acc_signin.html", context, 429,
                           headers={"Retry-After": str(exc.retry_after)})
    except AccountError as exc:
        page = Page(request, None, None)
        context = {"next": safe_next(next) if next else "", "error": _refusal(page, exc),
                   "username": username}
        return page.render("acc_signin.html", context, 401)
    target = safe_next(next) if next else _landing(Role(account.role))
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    _set_session(request, response, raw)
    return response


def _end(request: Request, response: Response) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        with Session(_engine(request)) as session:
            accounts.end_session(session, raw)
            session.commit()
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/signout")
def signout(request: Request) -> Response:
    """End the session and forget every sign-in cookie."""
    return _end(request, RedirectResponse("/signin", status.HTTP_303_SEE_OTHER))


class SignInBody(BaseModel):
    """A person's user name and password."""

    username: str = Field(max_length=100)
    password: str = Field(max_length=200)


@api_router.post("/api/v1/session", status_code=204, response_class=Response)
def api_sign_in(body: SignInBody, request: Request) -> Response:
    """Sign in for pages that work by ``fetch``: 204 and the session cookie.

    401 for a wrong user name or password, 423 while the account is locked, 429 when the
    client's address has tried too often (``Retry-After`` says for how long).
    """
    try:
        _account, raw = _sign_in(request, body.username, body.password)
    except SignInThrottled as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            {"error": "throttled", "retry_after": exc.retry_after},
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except AccountLocked as exc:
        raise HTTPException(
            status.HTTP_423_LOCKED,
            {"error": "locked", "until": exc.until.isoformat(),
             "until_seoul": _seoul(exc.until)},
        ) from None
    except AccountError:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, {"error": "bad_credentials"}) from None
    response = Response(status_code=204)
    _set_session(request, response, raw)
    return response


@api_router.delete("/api/v1/session", status_code=204, response_class=Response)
def api_sign_out(request: Request) -> Response:
    """End the session (the inbox's sign-out button)."""
    return _end(request, Response(status_code=204))


# --- account management ----------------------------------------------------------------


def _manager(request: Request, lang: str | None) -> tuple[Page, Principal] | Response:
    principal = optional_principal(request)
    if principal is None:
        return RedirectResponse("/signin?next=/accounts", status.HTTP_303_SEE_OTHER)
    page = Page(request, principal, lang)
    if principal.role not in MANAGERS:
        return page.render("dash_error.html", {"message": page.t("not_allowed")}, 403)
    return page, principal


def _accounts_page(
    request: Request,
    page: Page,
    principal: Principal,
    *,
    issued: accounts.NewPassword | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with Session(_engine(request)) as session:
        rows = accounts.list_accounts(session, principal)
        if principal.role is Role.ADMIN:
            centers = list(session.scalars(select(CareCenter.id).order_by(CareCenter.id)))
            roles = list(Role)
            audit = list(session.scalars(
                select(AuditEntry).order_by(AuditEntry.id.desc()).limit(30)))
        else:
            centers = [principal.care_center_id or ""]
            roles = [Role.STAFF, Role.INSTALLER]
            audit = []
        now = utcnow()
        context: dict[str, Any] = {
            "rows": rows,
            "centers": centers,
            "roles": roles,
            "audit": audit,
            "issued": issued,
            "error": error,
            "seoul": _seoul,
            "now": now,
        }
        return page.render("acc_accounts.html", context, status_code)


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, lang: str | None = None) -> Response:
    """The accounts an admin or a center lead manages, with the forms to change them."""
    found = _manager(request, lang)
    if isinstance(found, Response):
        return found
    return _accounts_page(request, *found)


def _change(
    request: Request, action: Callable[[Session, Principal], accounts.NewPassword | None]
) -> Response:
    found = _manager(request, None)
    if isinstance(found, Response):
        return found
    page, principal = found
    with Session(_engine(request)) as session:
        try:
            issued = action(session, principal)
            session.commit()
        except RegistryError as exc:
            session.rollback()
            code = 404 if "not found" in str(exc) else 403 if isinstance(
                exc, accounts.NotAllowed) else 422
            return _accounts_page(request, page, principal, error=str(exc), status_code=code)
        if issued is not None:
            session.refresh(issued.account)
            session.expunge(issued.account)
    return _accounts_page(request, page, principal, issued=issued)


@router.post("/accounts", response_class=HTMLResponse)
def create_account(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    display_name: Annotated[str, Form(max_length=300)],
    role: Annotated[str, Form(max_length=20)],
    care_center_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Create an account; the page shows its password once."""
    return _change(request, lambda session, manager: accounts.create_account(
        session, manager, username=username, display_name=display_name, role=role,
        care_center_id=care_center_id or None))


@router.post("/accounts/{username}/reset", response_class=HTMLResponse)
def reset_password(request: Request, username: str) -> Response:
    """Give the account a new random password (shown once), unlock it, end its sessions."""
    return _change(request, lambda session, manager: accounts.reset_password(
        session, manager, username))


@router.post("/accounts/{username}/disable", response_class=HTMLResponse)
def disable(request: Request, username: str) -> Response:
    """Disable the account; its sessions end at once."""
    return _change(request, lambda session, manager: _none(
        accounts.set_disabled(session, manager, username, True)))


@router.post("/accounts/{username}/enable", response_class=HTMLResponse)
def enable(request: Request, username: str) -> Response:
    """Enable a disabled account again."""
    return _change(request, lambda session, manager: _none(
        accounts.set_disabled(session, manager, username, False)))


def _none(_row: Account) -> None:
    return None


# --- audit trail ------------------------------------------------------------------------


class AuditTrail:
    """ASGI middleware recording who made each change through the web process.

    The principal is the one the route's authentication found (``request.state.principal``,
    set by :func:`devices.auth.optional_principal`); requests without one changed nothing.
    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which would re-wrap the body
    stream and turn :class:`~web.limits.RequestLimits`' 413 into a 400.

    Args:
        app: the application.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; afterwards write who did it if it was a change."""
        if (scope["type"] != "http" or scope["method"] not in _MUTATING
                or scope["path"].startswith(_NOT_AUDITED)):
            await self.app(scope, receive, send)
            return
        answered: list[int] = []

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, remember)
        principal: Principal | None = scope.get("state", {}).get("principal")
        if principal is not None and answered:
            request = Request(scope)
            await run_in_threadpool(_record, _engine(request), principal, scope["method"],
                                    scope["path"], answered[0])


def _record(engine: Engine, principal: Principal, method: str, path: str, code: int) -> None:
    with Session(engine) as session:
        accounts.record(session, principal.name, method, path, code)
        session.commit()


router.include_router(api_router)
