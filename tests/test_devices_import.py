"""CSV import of 10,000 households: five bad rows refuse the file and are all named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bench.registry import make_csv, seed_centers
from devices.csv_import import import_csv
from devices.db import migrate
from devices.exceptions import ImportRejected
from devices.models import Device, Household, Resident
from tests.kit.postgres import new_postgres_database

N = 10_000
BAD_LINES = [17, 2_500, 5_001, 7_777, 10_001]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    else:
        url = new_postgres_database()
    engine = migrate(url)
    with Session(engine) as session:
        seed_centers(session)
    yield engine


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_ten_thousand_households_all_or_nothing(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(ImportRejected) as refused:
        import_csv(session, make_csv(N, BAD_LINES))
    errors = refused.value.errors
    assert sorted({e.line for e in errors}) == BAD_LINES
    by_line = {e.line: e for e in errors}
    assert by_line[17].field == "care_center_id" and "cc-nowhere" in by_line[17].reason
    assert by_line[2_500].field == "device_kind" and "toaster" in by_line[2_500].reason
    assert by_line[5_001].field == "mqtt_topic" and "line 2" in by_line[5_001].reason
    assert by_line[7_777].field == "quiet_hours"
    assert by_line[10_001].field == "resident_birth_date"
    assert _count(engine, Household) == 0 and _count(engine, Device) == 0

    with Session(engine) as session:
        result = import_csv(session, make_csv(N))
        session.commit()
    assert result.households_created == N and result.devices_created == N
    assert _count(engine, Household) == N
    assert _count(engine, Device) == N
    assert _count(engine, Resident) == N


def test_file_level_problems_are_named(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(ImportRejected) as refused:
            import_csv(session, "care_center_id,dong,colour\ncc-bench-0,X,red\n")
        assert [(e.line, e.field, e.reason) for e in refused.value.errors] == [
            (1, "colour", "unknown column")
        ]
        with pytest.raises(ImportRejected):
            import_csv(session, "")
        with pytest.raises(ImportRejected) as refused:
            import_csv(
                session,
                "household_id,care_center_id,dong,device_kind,source_format,mqtt_topic\n"
                "hh-x,cc-bench-0,A,motion,zigbee2mqtt,z/1\n"
                "hh-x,cc-bench-1,,plug,tasmota,tele/t1\n"
                "hh-y,cc-bench-0,A,plug,,tele/t2,extra\n",
            )
        found = {(e.line, e.field) for e in refused.value.errors}
        assert found == {(3, "care_center_id"), (4, "row"), (4, "source_format")}
    assert _count(engine, Household) == 0


def test_a_call_schedule_column_is_checked_like_the_api_checks_it(engine: Engine) -> None:
    header = "household_id,care_center_id,dong,checkin_schedule\n"
    with Session(engine) as session:
        with pytest.raises(ImportRejected) as refused:
            import_csv(
                session, header + "hh-s1,cc-bench-0,A,Mon-Fri 10:00\nhh-s2,cc-bench-0,A,mon 9\n"
            )
        assert [(e.line, e.field) for e in refused.value.errors] == [(3, "checkin_schedule")]
        import_csv(session, header + "hh-s1,cc-bench-0,A,Mon-Fri 10:00\nhh-s2,cc-bench-0,A,\n")
        session.commit()
        first, second = session.get(Household, "hh-s1"), session.get(Household, "hh-s2")
        assert first is not None and first.checkin_schedule == "mon-fri 10:00"
        assert second is not None and second.checkin_schedule is None
