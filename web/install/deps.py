"""What the installer app's JSON actions share: the caller, sessions, lookups, answers.

Only installers and admins may use the actions (others: 403); a household, gateway or device
of another care center is answered 404, as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anbu.events import SourceFormat
from config import Settings
from devices.auth import get_principal, lookup_of
from devices.changes import changes_of
from devices.exceptions import Conflict, InvalidInput, NotFound, RegistryError
from devices.models import Device, Gateway, Household
from devices.principals import Principal, Role, can_see_household
from devices.unit_of_work import apply_changes
from web.install.schemas import HouseholdSummary

DeviceOrGateway = TypeVar("DeviceOrGateway", Device, Gateway)

INSTALLERS = frozenset({Role.INSTALLER, Role.ADMIN})


def installer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """FastAPI dependency: the signed-in installer or admin; 403 for any other role."""
    if principal.role not in INSTALLERS:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "only installers and administrators may do this / 설치 기사와 관리자만 할 수 있습니다",
        )
    return principal


def session_of(request: Request) -> Iterator[Session]:
    """FastAPI dependency: a session on the registry database for one request."""
    with Session(lookup_of(request).engine) as session:
        yield session


Installer = Annotated[Principal, Depends(installer)]
Db = Annotated[Session, Depends(session_of)]


@contextmanager
def answered() -> Iterator[None]:
    """The registry's refusals as HTTP answers naming what was wrong."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except InvalidInput as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", exc.field], "msg": exc.reason, "type": "value_error"}],
        ) from None
    except RegistryError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def save(request: Request, session: Session) -> None:
    """Commit, then publish the changes to Kafka and rewrite Mosquitto's accounts."""
    settings: Settings = request.app.state.settings
    changes = changes_of(session)
    session.commit()
    apply_changes(settings, changes)


def not_found(kind: str, ident: str) -> HTTPException:
    """The 404 answer for ``kind`` ``ident``."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {ident!r} not found")


def household_or_404(session: Session, principal: Principal, household_id: str) -> Household:
    """An active household the installer may work on, or 404."""
    row = session.get(Household, household_id)
    if row is None or row.retired_at is not None or not can_see_household(
        principal, row.care_center_id
    ):
        raise not_found("household", household_id)
    return row


def owned_or_404(
    session: Session, principal: Principal, model: type[DeviceOrGateway], ident: str
) -> DeviceOrGateway:
    """A device or gateway of a household the installer may work on, or 404."""
    row = session.get(model, ident)
    if row is None:
        raise not_found(model.__name__.lower(), ident)
    household_or_404(session, principal, row.household_id)
    return row


def default_topic(source_format: str, device_id: str, gateway_id: str | None) -> str:
    """The base topic a device of ``source_format`` publishes at out of the box.

    Zigbee2MQTT names a device by its IEEE address (the id on its label) until renamed;
    Tasmota and Shelly Gen1 use their own topic/id; anbu devices publish under their gateway.
    """
    if source_format == SourceFormat.TASMOTA:
        return f"tele/{device_id}"
    if source_format == SourceFormat.SHELLY:
        return f"shellies/{device_id}"
    if source_format == SourceFormat.ANBU:
        return f"anbu/{gateway_id}/{device_id}" if gateway_id else f"anbu/{device_id}"
    return f"zigbee2mqtt/{device_id}"



def summaries(session: Session, rows: list[Household]) -> list[HouseholdSummary]:
    """The households as answered, with their active gateways and devices counted."""
    ids = [r.id for r in rows]

    def counts(model: type[Device] | type[Gateway]) -> dict[str, int]:
        query = (
            select(model.household_id, func.count())
            .where(model.household_id.in_(ids), model.retired_at.is_(None))
            .group_by(model.household_id)
        )
        return {hh: n for hh, n in session.execute(query)}

    gateways, devices = counts(Gateway), counts(Device)
    return [
        HouseholdSummary(id=r.id, care_center_id=r.care_center_id, dong=r.dong,
                         gateways=gateways.get(r.id, 0), devices=devices.get(r.id, 0),
                         created_at=r.created_at)
        for r in rows
    ]


def only_gateway(session: Session, household_id: str) -> str | None:
    """The household's one active gateway; none when it has none or several."""
    found = list(session.scalars(select(Gateway.id).where(
        Gateway.household_id == household_id, Gateway.retired_at.is_(None)).limit(2)))
    return found[0] if len(found) == 1 else None
