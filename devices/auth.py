"""FastAPI request dependencies: the principal of a request, from its token or session.

The roles, principals and token hashing they use are :mod:`devices.principals` (pure, for
the CLI). A token comes in ``Authorization: Bearer ...`` or the ``anbu_token`` cookie; a
person signed in with an account (:mod:`devices.accounts`) has an ``anbu_session`` cookie.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from devices.accounts import session_principal
from devices.lookup import RegistryLookup
from devices.principals import Principal

TOKEN_COOKIE = "anbu_token"
SESSION_COOKIE = "anbu_session"


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
