"""API tokens, roles and who may see which household.

Tokens are random and shown once; only their SHA-256 is stored (a slow hash adds nothing
for 256-bit random secrets, and lookup by hash stays one indexed query). Tokens are for
machines and scripts; people sign in with a personal account (:mod:`devices.accounts`), whose
browser session cookie is checked here too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request, status

if TYPE_CHECKING:
    from devices.lookup import RegistryLookup

TOKEN_COOKIE = "anbu_token"
SESSION_COOKIE = "anbu_session"
TOKEN_PREFIX = "anbu_"


class Role(StrEnum):
    """What a token may do.

    installer: register and change households, gateways and devices (of its center if the
        token names one).
    staff: care-center staff; only the households of their own center.
    lead: a care center's lead: what staff may, and manages the accounts of the center's
        staff and installers.
    operator: read-only, every household, no personal data.
    admin: everything, including tokens and care centers.
    """

    INSTALLER = "installer"
    STAFF = "staff"
    LEAD = "lead"
    OPERATOR = "operator"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling.

    Attributes:
        token_id: the id of the token used (not the token).
        role: its role.
        care_center_id: the center it is limited to; None for all centers.
        name: a label for audit trails (``"kim (cc-01 night duty)"``); for a person signed
            in with an account, ``"display name (user name)"``.
        username: the account's user name; None for an API token.
    """

    token_id: str
    role: Role
    care_center_id: str | None
    name: str
    username: str | None = None


def new_token() -> str:
    """Return a fresh random API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def can_see_household(principal: Principal, care_center_id: str) -> bool:
    """Whether ``principal`` may see a household of ``care_center_id``."""
    if principal.role in (Role.ADMIN, Role.OPERATOR):
        return True
    return principal.care_center_id is None or principal.care_center_id == care_center_id


def token_from_request(request: Request) -> str | None:
    """The token in ``Authorization: Bearer ...``, else the ``anbu_token`` cookie."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    cookie = request.cookies.get(TOKEN_COOKIE)
    return cookie or None


def lookup_of(request: Request) -> RegistryLookup:
    """The app's :class:`RegistryLookup`, created on first use."""
    from devices.lookup import RegistryLookup

    lookup = getattr(request.app.state, "registry_lookup", None)
    if lookup is None:
        lookup = RegistryLookup.from_settings(request.app.state.settings)
        request.app.state.registry_lookup = lookup
    return lookup


def _session_principal(request: Request) -> Principal | None:
    """The person of a live ``anbu_session`` cookie (only when no Authorization header)."""
    if request.headers.get("authorization"):
        return None
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    from devices.accounts import session_principal

    return session_principal(lookup_of(request).engine, raw)


def optional_principal(request: Request) -> Principal | None:
    """The caller, or None without a valid token or session.

    A Bearer token wins; then the personal session cookie; then the token cookie.
    """
    principal = _session_principal(request)
    if principal is None:
        token = token_from_request(request)
        principal = None if token is None else lookup_of(request).authenticate(token)
    if principal is not None:
        request.state.principal = principal  # for the audit trail of the web process
    return principal


def get_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, or 401 saying what is missing.

    Raises:
        HTTPException: 401 without a token or session, or with an unknown or revoked one.
    """
    principal = optional_principal(request)
    if principal is None and token_from_request(request) is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: sign in at /signin, or send 'Authorization: Bearer "
            "<token>' / 인증이 필요합니다 (/signin 에서 로그인)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked token / 유효하지 않거나 폐기된 토큰입니다",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal
