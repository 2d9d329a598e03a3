"""Who may see what on the dashboards: operators and admins everything, staff their center.

Authentication is the registry's (``devices.auth``): ``Authorization: Bearer <token>`` or
the ``anbu_token`` cookie that the sign-in page sets.
"""

from __future__ import annotations

from fastapi import Request

from devices.auth import lookup_of
from devices.principals import Principal, Role, can_see_household


def center_scope(principal: Principal) -> set[str] | None:
    """The care centers whose households ``principal`` may see; None for all."""
    if principal.role in (Role.ADMIN, Role.OPERATOR) or principal.care_center_id is None:
        return None
    return {principal.care_center_id}


def may_see_household(request: Request, principal: Principal, household: str) -> bool:
    """Whether ``principal`` may see ``household`` (unregistered ones: operators only)."""
    scope = center_scope(principal)
    if scope is None:
        return True
    info = lookup_of(request).household(household)
    return info is not None and can_see_household(principal, info.care_center_id)
