"""API tokens: create (the token is shown once), revoke, and the bootstrap admin token."""

from __future__ import annotations

from sqlalchemy.orm import Session

from anbu.timeutil import utcnow
from devices.exceptions import InvalidInput
from devices.models import ApiToken, CareCenter
from devices.principals import Role, hash_token, new_token
from devices.rules import new_id
from devices.service import get_row

ADMIN_TOKEN_ID = "admin-bootstrap"


def create_token(
    session: Session, role: Role | str, *, name: str, care_center_id: str | None = None
) -> tuple[ApiToken, str]:
    """Create an API token.

    Returns:
        The stored token row and the token itself, shown this once (only its hash is kept).

    Raises:
        InvalidInput: an unknown role, or a staff token without a care center.
        NotFound: no such care center.
    """
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(Role)}") from None
    if role in (Role.STAFF, Role.LEAD) and not care_center_id:
        raise InvalidInput("care_center_id", "a staff token belongs to one care center")
    if role in (Role.ADMIN, Role.OPERATOR) and care_center_id:
        raise InvalidInput("care_center_id", f"an {role} token covers every center")
    if care_center_id:
        get_row(session, CareCenter, care_center_id)
    token = new_token()
    row = ApiToken(
        id=new_id("tok"),
        token_hash=hash_token(token),
        role=role.value,
        care_center_id=care_center_id,
        name=name or role.value,
    )
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoke a token; it stops working at once."""
    row: ApiToken = get_row(session, ApiToken, token_id)
    row.revoked_at = row.revoked_at or utcnow()
    return row


def ensure_admin_token(session: Session, token: str) -> None:
    """Make the bootstrap admin token (``settings.admin_token()``) valid, replacing an old one."""
    row = session.get(ApiToken, ADMIN_TOKEN_ID)
    digest = hash_token(token)
    if row is None:
        session.add(
            ApiToken(id=ADMIN_TOKEN_ID, token_hash=digest, role=Role.ADMIN.value, name="bootstrap")
        )
    else:
        row.token_hash = digest
        row.role = Role.ADMIN.value
        row.revoked_at = None
    session.flush()
