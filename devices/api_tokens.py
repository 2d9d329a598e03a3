"""Routes for API tokens (admin only): list, create (shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from anbu.http_errors import ErrorRoute
from devices import tokens
from devices.api_deps import Caller, Db, commit, require
from devices.exceptions import Conflict
from devices.models import ApiToken
from devices.principals import Role
from devices.schemas import TokenCreated, TokenIn, TokenOut

router = APIRouter(prefix="/api/v1", tags=["registry"], route_class=ErrorRoute)


# --- tokens ---------------------------------------------------------------------------


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(principal: Caller, session: Db) -> list[ApiToken]:
    """All tokens (admin); never the tokens themselves."""
    require(principal, Role.ADMIN)
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)))


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, principal: Caller, session: Db, request: Request) -> TokenCreated:
    """Create a token (admin); the answer holds the token, shown only this once."""
    require(principal, Role.ADMIN)
    row, token = tokens.create_token(
        session, body.role, name=body.name, care_center_id=body.care_center_id
    )
    commit(request, session, row)
    return TokenCreated(token=token, info=TokenOut.model_validate(row))


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, principal: Caller, session: Db, request: Request) -> ApiToken:
    """Revoke a token (admin)."""
    require(principal, Role.ADMIN)
    if token_id == tokens.ADMIN_TOKEN_ID:
        raise Conflict("the bootstrap admin token is set in the settings (registry.admin_token)")
    return commit(request, session, tokens.revoke_token(session, token_id))
