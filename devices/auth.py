"""API tokens, roles and who may see which household.

Tokens are random and shown once; only their SHA-256 is stored (a slow hash adds nothing
for 256-bit random secrets, and lookup by hash stays one indexed query).
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
TOKEN_PREFIX = "anbu_"


class Role(StrEnum):
    """What a token may do.

    installer: register and change households, gateways and devices (of its center if the
        token names one).
    staff: care-center staff; only the households of their own center.
    operator: read-only, every household, no personal data.
    admin: everything, including tokens and care centers.
    """

    INSTALLER = "installer"
    STAFF = "staff"
    OPERATOR = "operator"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling.

    Attributes:
        token_id: the id of the token used (not the token).
        role: its role.
        care_center_id: the center it is limited to; None for all centers.
        name: a label for audit trails (``"kim (cc-01 night duty)"``).
    """

    token_id: str
    role: Role
    care_center_id: str | None
    name: str


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


def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when no valid token came with the request."""
    token = token_from_request(request)
    if token is None:
        return None
    return lookup_of(request).authenticate(token)


def get_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, or 401 saying what is missing.

    Raises:
        HTTPException: 401 without a token, or with an unknown or revoked one.
    """
    token = token_from_request(request)
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: send 'Authorization: Bearer <token>' "
            "or sign in (cookie anbu_token) / 인증이 필요합니다",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = lookup_of(request).authenticate(token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked token / 유효하지 않거나 폐기된 토큰입니다",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal
