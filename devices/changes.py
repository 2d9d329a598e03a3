"""What a registry session changed: the ids to publish and whether Mosquitto's files move.

Each service function notes the rows it touched in the session (:func:`changes_of`); the
unit of work (:mod:`devices.unit_of_work`) publishes them after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from devices.models import CareCenter, Contact, Device, Gateway, Household


@dataclass(slots=True)
class Changes:
    """What a session changed, for publishing after commit."""

    centers: set[str] = field(default_factory=set)
    households: set[str] = field(default_factory=set)
    gateways: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)

    def note(self, row: object) -> None:
        """Note a changed row for publishing.

        A care center, household, gateway or device by its own id; a contact by its
        household's (the household's record carries how many contact tiers it has); a
        resident not at all (personal data is never published).
        """
        if isinstance(row, CareCenter):
            self.centers.add(row.id)
        elif isinstance(row, Household):
            self.households.add(row.id)
        elif isinstance(row, Gateway):
            self.gateways.add(row.id)
        elif isinstance(row, Device):
            self.devices.add(row.id)
        elif isinstance(row, Contact):
            self.households.add(row.household_id)

    @property
    def mqtt(self) -> bool:
        """Whether Mosquitto's accounts or ACLs may have changed."""
        return bool(self.gateways or self.devices)

    def __bool__(self) -> bool:
        return bool(self.centers or self.households or self.gateways or self.devices)


def changes_of(session: Session) -> Changes:
    """The changes noted in ``session`` so far."""
    found = session.info.get("anbu_changes")
    if not isinstance(found, Changes):
        found = Changes()
        session.info["anbu_changes"] = found
    return found
