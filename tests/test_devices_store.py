"""The registry's store on a real SQLite file and a real PostgreSQL: models, service, lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from devices import equipment, residents, service, tokens
from devices.db import migrate
from devices.exceptions import Conflict, InvalidInput, NotFound
from devices.lookup import RegistryLookup
from devices.models import Device, Gateway, Household
from devices.principals import Role
from devices.records import records_for
from tests.kit.postgres import new_postgres_database


def test_migrations_are_idempotent_and_create_every_table(engine: Engine) -> None:
    from sqlalchemy import inspect

    migrate(str(engine.url.render_as_string(hide_password=False)))
    tables = set(inspect(engine).get_table_names())
    assert {
        "care_centers",
        "households",
        "residents",
        "contacts",
        "gateways",
        "devices",
        "api_tokens",
        "alembic_version",
    } <= tables


def _seed(session: Session) -> tuple[str, str]:
    service.create_care_center(
        session,
        "cc-a",
        "Center A",
        dongs=["Seogyo-dong"],
        duty_phone="02-111-1111",
        webhook_url="http://x.test/hook",
    )
    service.create_care_center(session, "cc-b", "Center B", dongs=["Mangwon-dong"])
    household = service.create_household(
        session,
        "cc-a",
        "Seogyo-dong",
        quiet_hours="22:00-06:00",
        escalation_delays_s=[60, 120],
        address="Secret street 1",
    )
    residents.add_resident(session, household.id, "Hong Gildong", phone="010-1234-5678")
    residents.add_contact(session, household.id, 2, "Neighbour", phone="010-2222-2222")
    residents.add_contact(session, household.id, 1, "Daughter", email="d@example.org")
    gateway, password = equipment.create_gateway(session, household.id)
    assert len(password) >= 20
    equipment.add_device(
        session,
        household.id,
        "robot",
        "anbu",
        f"anbu/{gateway.id}/robot",
        gateway_id=gateway.id,
        device_id="dev-robot-1",
    )
    equipment.add_device(
        session, household.id, "motion", "zigbee2mqtt", "zigbee2mqtt/hall_pir", room="hall"
    )
    session.commit()
    return household.id, gateway.id


def test_lookup_answers_what_alerts_need(engine: Engine) -> None:
    with Session(engine) as session:
        household_id, _ = _seed(session)
        _, token = tokens.create_token(session, Role.STAFF, name="kim", care_center_id="cc-a")
        session.commit()
    lookup = RegistryLookup(engine)
    info = lookup.household(household_id)
    assert (
        info is not None and info.care_center_id == "cc-a" and info.escalation_delays_s == [60, 120]
    )
    assert household_id.startswith("hh-") and "Hong" not in household_id
    assert [(c.tier, c.name) for c in lookup.contacts(household_id)] == [
        (1, "Daughter"),
        (2, "Neighbour"),
    ]
    center = lookup.care_center("cc-a")
    assert center is not None and center.duty_phone == "02-111-1111"
    assert lookup.robot_topic(household_id).endswith("/robot")  # type: ignore[union-attr]
    assert lookup.households_of_center("cc-a") == [household_id]
    assert lookup.households_of_center("cc-b") == []
    principal = lookup.authenticate(token)
    assert (
        principal is not None
        and principal.role is Role.STAFF
        and principal.care_center_id == "cc-a"
    )
    assert lookup.authenticate(token + "x") is None
    assert lookup.household("hh-nope") is None


def test_records_carry_no_personal_data(engine: Engine) -> None:
    with Session(engine) as session:
        _seed(session)
        text = b"".join(r.to_json() for r in records_for(session))
    for secret in (b"Hong", b"010-", b"Secret street", b"Daughter", b"d@example.org", b"$7$"):
        assert secret not in text
    assert b'"quiet_hours":{"start":"22:00:00","end":"06:00:00"}' in text
    assert b'"tiers":2' in text


def test_replacement_keeps_history_and_frees_the_topic(engine: Engine) -> None:
    with Session(engine) as session:
        household_id, _ = _seed(session)
        old = session.scalar(select(Device).where(Device.mqtt_topic == "zigbee2mqtt/hall_pir"))
        assert old is not None
        new = equipment.replace_device(session, old.id, new_device_id="dev-pir-2")
        session.commit()
        history = equipment.device_history(session, "dev-pir-2")
        assert [d.id for d in history] == [old.id, "dev-pir-2"]
        assert old.retired_at is not None and old.replaced_by == "dev-pir-2"
        assert new.mqtt_topic == "zigbee2mqtt/hall_pir" and new.replaces == old.id
        with pytest.raises(Conflict):
            equipment.add_device(
                session, household_id, "motion", "zigbee2mqtt", "zigbee2mqtt/hall_pir"
            )


def test_bad_input_names_the_field(engine: Engine) -> None:
    with Session(engine) as session:
        household_id, _ = _seed(session)
        with pytest.raises(InvalidInput) as bad:
            equipment.add_device(session, household_id, "toaster", "zigbee2mqtt", "z/1")
        assert bad.value.field == "kind"
        with pytest.raises(InvalidInput) as bad:
            equipment.add_device(session, household_id, "plug", "tasmota", "tele/#")
        assert bad.value.field == "mqtt_topic"
        with pytest.raises(NotFound):
            service.create_household(session, "cc-nope", "X")
        with pytest.raises(InvalidInput):
            tokens.create_token(session, "staff", name="x")
        with pytest.raises(InvalidInput):
            equipment.create_gateway(session, household_id, gateway_id="anbu-service")
        with pytest.raises(InvalidInput) as bad:
            equipment.add_device(
                session,
                household_id,
                "plug",
                "tasmota",
                "tele/t9",
                installed_at=datetime.now(UTC) + timedelta(days=1),
            )
        assert bad.value.field == "installed_at"


def test_retiring_a_household_retires_its_gateways_and_devices(engine: Engine) -> None:
    with Session(engine) as session:
        household_id, gateway_id = _seed(session)
        service.retire_household(session, household_id)
        session.commit()
        active = session.scalar(
            select(func.count())
            .select_from(Device)
            .where(Device.household_id == household_id, Device.retired_at.is_(None))
        )
        assert active == 0
        assert service.get_row(session, Gateway, gateway_id).retired_at is not None
        assert session.get(Household, household_id).retired_at is not None  # type: ignore[union-attr]


def _migrate_in_child(url: str, start: Any) -> None:
    start.wait(30)
    migrate(url)


def test_processes_starting_together_migrate_once(engine: Engine) -> None:
    """web, alerts and the CLI all migrate at start; racing on a fresh database must not fail."""
    import multiprocessing

    from sqlalchemy import inspect

    url = engine.url.render_as_string(hide_password=False)
    if "postgresql" in url:
        fresh = new_postgres_database()
    else:
        fresh = url.rsplit("/", 1)[0] + "/race.sqlite3"
    # Forked children start at once (no interpreter start-up to stagger them).
    context = multiprocessing.get_context("fork")
    start = context.Event()
    children = [context.Process(target=_migrate_in_child, args=(fresh, start)) for _ in range(3)]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(60)
    assert [c.exitcode for c in children] == [0, 0, 0]
    assert "devices" in inspect(migrate(fresh)).get_table_names()


def test_each_change_is_noted_for_publishing_under_what_its_record_is(engine: Engine) -> None:
    from devices.changes import changes_of
    from devices.models import Contact, Resident

    with Session(engine) as session:
        household_id, gateway_id = _seed(session)
        session.info.clear()  # what the seeding noted; only the changes below count
        contact = session.scalar(select(Contact).where(Contact.household_id == household_id))
        resident = session.scalar(select(Resident).where(Resident.household_id == household_id))
        assert contact is not None and resident is not None
        residents.retire_resident(session, resident.id)
        assert not changes_of(session)  # a resident is never published
        residents.retire_contact(session, contact.id)  # the household's tiers change
        equipment.retire_gateway(session, gateway_id)
        service.create_care_center(session, "cc-n", "Center N")
        noted = changes_of(session)
        assert noted.households == {household_id} and noted.gateways == {gateway_id}
        assert noted.centers == {"cc-n"} and noted.devices == set() and noted.mqtt
