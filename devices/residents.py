"""Residents of a household and their escalation contacts: add, change, retire."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from anbu.timeutil import utcnow
from devices.changes import changes_of
from devices.exceptions import InvalidInput
from devices.models import Contact, Resident
from devices.rules import TIER_MAX, not_null
from devices.schemas import ContactPatch, ResidentPatch
from devices.service import active_household, patched, retire_row


def add_resident(
    session: Session,
    household_id: str,
    name: str,
    *,
    phone: str | None = None,
    birth_date: date | None = None,
    consent: bool = False,
) -> Resident:
    """Record the person living in a household (personal data: kept only here)."""
    active_household(session, household_id)
    if not name.strip():
        raise InvalidInput("name", "a resident needs a name")
    row = Resident(
        household_id=household_id,
        name=name,
        phone=phone,
        birth_date=birth_date,
        consent=consent,
        consent_at=utcnow() if consent else None,
    )
    session.add(row)
    session.flush()
    return row


def update_resident(session: Session, resident_id: int, patch: ResidentPatch) -> Resident:
    """Change a resident's details (only the keys given)."""
    row, changes = patched(session, Resident, resident_id, patch)
    not_null(changes, "name")
    for key in ("name", "phone", "birth_date"):
        if key in changes:
            setattr(row, key, changes[key])
    if "consent" in changes and changes["consent"] is not None:
        if changes["consent"] and not row.consent:
            row.consent_at = utcnow()
        row.consent = bool(changes["consent"])
    return row


def add_contact(
    session: Session,
    household_id: str,
    tier: int,
    name: str,
    *,
    relation: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> Contact:
    """Add an escalation contact at ``tier`` (1 is called first)."""
    active_household(session, household_id)
    if not 1 <= tier <= TIER_MAX:
        raise InvalidInput("tier", f"a tier is 1 to {TIER_MAX}")
    if not name.strip():
        raise InvalidInput("name", "a contact needs a name")
    if not phone and not email:
        raise InvalidInput("phone", "a contact needs a phone number or an e-mail address")
    row = Contact(
        household_id=household_id, tier=tier, name=name, relation=relation, phone=phone, email=email
    )
    session.add(row)
    session.flush()
    changes_of(session).note(row)
    return row


def update_contact(session: Session, contact_id: int, patch: ContactPatch) -> Contact:
    """Change a contact (only the keys given)."""
    row, changes = patched(session, Contact, contact_id, patch)
    if changes.get("tier") is not None and not 1 <= int(changes["tier"]) <= TIER_MAX:
        raise InvalidInput("tier", f"a tier is 1 to {TIER_MAX}")
    for key in ("tier", "name", "relation", "phone", "email"):
        if key in changes and (changes[key] is not None or key not in ("tier", "name")):
            setattr(row, key, changes[key])
    changes_of(session).note(row)
    return row


def retire_contact(session: Session, contact_id: int) -> Contact:
    """Remove a contact from escalation."""
    return retire_row(session, Contact, contact_id)


def retire_resident(session: Session, resident_id: int) -> Resident:
    """Mark a resident as no longer living there."""
    return retire_row(session, Resident, resident_id)
