"""Who is calling, and what each role may see: roles, principals and token hashing.

Pure: no FastAPI, so the CLI and the services import it without pulling the web stack. The
request dependencies that find the principal of an HTTP request are :mod:`devices.auth`.

Tokens are random and shown once; only their SHA-256 is stored (a slow hash adds nothing
for 256-bit random secrets, and lookup by hash stays one indexed query). Tokens are for
machines and scripts; people sign in with a personal account (:mod:`devices.accounts`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

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
