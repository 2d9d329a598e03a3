"""Bulk import of households (and their residents and devices) from CSV: all or nothing.

One row is one household, optionally with its resident and one device. Further rows with
the same ``household_id`` add more devices to it (their household columns may stay empty).
A ``household_id`` that already exists in the registry adds devices to that household.
Every row is checked before anything is written; any bad row refuses the whole file and
every bad row is named (line, column, reason).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from anbu.timeutil import utcnow
from devices.changes import changes_of
from devices.exceptions import ImportRejected, InvalidInput, RowError
from devices.models import CareCenter, Device, Household, Resident, table_of
from devices.rules import check_id, check_topic, new_id, parse_quiet_hours, problem
from devices.schemas import DeviceIn, HouseholdPatch, ResidentIn

HOUSEHOLD_COLUMNS = (
    "household_id",
    "care_center_id",
    "dong",
    "inactivity_hours",
    "quiet_hours",
    "checkin_enabled",
    "escalation_delays_s",
    "checkin_schedule",
)
RESIDENT_COLUMNS = ("resident_name", "resident_phone", "resident_birth_date", "resident_consent")
DEVICE_COLUMNS = (
    "device_id",
    "device_kind",
    "source_format",
    "mqtt_topic",
    "room",
    "reporting_interval_s",
)
COLUMNS = HOUSEHOLD_COLUMNS + RESIDENT_COLUMNS + DEVICE_COLUMNS
TRUE = {"1", "true", "yes", "y", "예"}
FALSE = {"0", "false", "no", "n", "아니오", ""}


class ImportedHousehold(BaseModel):
    """Which id a row's household got (generated when the row left it empty)."""

    line: int
    household_id: str


class ImportResult(BaseModel):
    """What an import wrote."""

    households_created: int
    devices_created: int
    residents_created: int
    households: list[ImportedHousehold]


_Model = TypeVar("_Model", bound=BaseModel)


@dataclass
class _Row:
    line: int
    values: dict[str, str]
    errors: list[RowError] = field(default_factory=list)

    def get(self, column: str) -> str:
        return (self.values.get(column) or "").strip()

    def fail(self, column: str, reason: str) -> None:
        self.errors.append(RowError(self.line, column, reason))


def _rows(text: str) -> Iterator[_Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise ImportRejected([RowError(1, "header", _csv_problem(exc))]) from None
    if not header:
        raise ImportRejected([RowError(1, "header", "the file is empty; a header row is needed")])
    unknown = [h for h in header if h not in COLUMNS]
    missing = [h for h in ("care_center_id", "dong") if h not in header]
    problems = [RowError(1, h or "(empty)", "unknown column") for h in unknown]
    problems += [RowError(1, h, "required column is missing") for h in missing]
    if problems:
        raise ImportRejected(problems)
    reader.fieldnames = header
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit(): nothing imported
            raise ImportRejected([RowError(reader.line_num, "row", _csv_problem(exc))]) from None
        extra = record.pop(None, None)
        row = _Row(reader.line_num, {k: v or "" for k, v in record.items()})
        if extra:
            row.fail("row", f"{len(extra)} more value(s) than columns")
        yield row


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a field is longer than {csv.field_size_limit()} characters"
    return f"not readable as CSV: {exc}"


def _validated(row: _Row, model: type[_Model], given: dict[str, Any],
               columns: dict[str, str]) -> _Model | None:
    """``given`` checked by the API's own request model; each problem named by its column.

    Args:
        row: the row (its errors are added to).
        model: the API schema the values must pass.
        given: the row's values, by the schema's field names.
        columns: the CSV column of a schema field, where the names differ.
    """
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "row"
            row.fail(columns.get(name, name), problem(error))
        return None


def _split(text: str) -> list[str]:
    return text.replace(";", " ").split()


def _household_fields(row: _Row) -> dict[str, Any]:
    """Check a row's household columns (the API's rules); return the values it sets."""
    given: dict[str, Any] = {c: row.get(c) for c in ("care_center_id", "dong",
                                                      "inactivity_hours") if row.get(c)}
    quiet = None
    if row.get("quiet_hours"):
        try:
            quiet = parse_quiet_hours(row.get("quiet_hours"))
        except InvalidInput as exc:
            row.fail("quiet_hours", exc.reason)
    checkin = _bool(row, "checkin_enabled")
    if checkin is not None:
        given["checkin_enabled"] = checkin
    if row.get("escalation_delays_s"):
        given["escalation_delays_s"] = _split(row.get("escalation_delays_s"))
    if row.get("checkin_schedule"):
        given["checkin_schedule"] = row.get("checkin_schedule")
    checked = _validated(row, HouseholdPatch, given, {})
    if checked is None:
        return {}
    values = checked.model_dump(exclude_unset=True)
    if quiet is not None:
        values["quiet_start"] = quiet.start.strftime("%H:%M")
        values["quiet_end"] = quiet.end.strftime("%H:%M")
    return values


def _bool(row: _Row, column: str) -> bool | None:
    text = row.get(column).lower()
    if not text:
        return None
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    row.fail(column, f"{text!r} is not yes/no")
    return None


_RESIDENT = {"name": "resident_name", "phone": "resident_phone",
             "birth_date": "resident_birth_date", "consent": "resident_consent"}


def _resident_fields(row: _Row) -> dict[str, Any] | None:
    if not any(row.get(c) for c in RESIDENT_COLUMNS):
        return None
    if not row.get("resident_name"):
        row.fail("resident_name", "resident details given without a name")
        return None
    given: dict[str, Any] = {field: row.get(column) for field, column in _RESIDENT.items()
                             if field != "consent" and row.get(column)}
    given["consent"] = _bool(row, "resident_consent") or False
    checked = _validated(row, ResidentIn, given, _RESIDENT)
    return None if checked is None else checked.model_dump()


def _device_fields(row: _Row) -> dict[str, Any] | None:
    if not any(row.get(c) for c in DEVICE_COLUMNS):
        return None
    for column in ("device_kind", "source_format", "mqtt_topic"):
        if not row.get(column):
            row.fail(column, "required when the row has a device")
    given = {field: row.get(column) for field, column in _DEVICE.items() if row.get(column)}
    checked = _validated(row, DeviceIn, given, _DEVICE)
    if checked is None:
        return None
    values = checked.model_dump(mode="json")
    try:
        check_topic(values["mqtt_topic"])  # the service's rules beyond the schema's
    except InvalidInput as exc:
        row.fail("mqtt_topic", exc.reason)
    return values


_DEVICE = {"device_id": "device_id", "kind": "device_kind", "source_format": "source_format",
           "mqtt_topic": "mqtt_topic", "room": "room",
           "reporting_interval_s": "reporting_interval_s"}


def _existing(session: Session, column: Any, wanted: set[str], extra: Any = None) -> set[str]:
    found: set[str] = set()
    values = sorted(wanted)
    for i in range(0, len(values), 500):
        query = select(column).where(column.in_(values[i : i + 500]))
        if extra is not None:
            query = query.where(extra)
        found.update(session.scalars(query))
    return found


def import_csv(session: Session, text: str, *, allowed_center: str | None = None) -> ImportResult:
    """Check and import a CSV file in one transaction (the caller commits).

    Args:
        session: the registry session (use :func:`devices.unit_of_work.registry_session` so the
            new entities are published after commit).
        text: the CSV text with a header row.
        allowed_center: refuse rows of any other care center (a center-bound token).

    Returns:
        Counts and the id of each row's household.

    Raises:
        ImportRejected: at least one bad row; every bad row is listed and nothing is written.
    """
    rows = list(_rows(text))
    if not rows:
        raise ImportRejected([RowError(2, "row", "the file has a header but no rows")])
    centers = {c.id: c.retired_at for c in session.scalars(select(CareCenter))}
    named = {r.get("household_id") for r in rows if r.get("household_id")}
    existing_households = {
        h.id: h.care_center_id for h in _chunked_households(session, named) if h.retired_at is None
    }
    retired_households = _existing(session, Household.id, named) - set(existing_households)

    households: dict[str, dict[str, Any]] = {}  # new households by id
    first_line: dict[str, int] = {}
    residents: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []
    device_lines: dict[str, int] = {}
    topic_lines: dict[str, int] = {}
    result_rows: list[ImportedHousehold] = []
    for row in rows:
        fields = _household_fields(row)
        household_id = row.get("household_id")
        if household_id:
            try:
                check_id(household_id, "household_id")
            except InvalidInput as exc:
                row.fail("household_id", exc.reason)
        else:
            household_id = new_id("hh")
        center = fields.get("care_center_id")
        if household_id in retired_households:
            row.fail("household_id", f"household {household_id!r} is retired")
        elif household_id in existing_households:
            center = existing_households[household_id]
            if fields.get("care_center_id") not in (None, center):
                row.fail("care_center_id", f"household {household_id!r} belongs to another center")
        elif household_id in households:
            known = households[household_id]
            for key, value in fields.items():
                if known.get(key) != value:
                    row.fail(
                        key, f"differs from line {first_line[household_id]} for this household"
                    )
            center = known.get("care_center_id")
        else:
            for column in ("care_center_id", "dong"):
                if not row.get(column):
                    row.fail(column, "required for a new household")
            if center is not None:
                if center not in centers:
                    row.fail("care_center_id", f"no care center {center!r}")
                elif centers[center] is not None:
                    row.fail("care_center_id", f"care center {center!r} is retired")
            households[household_id] = {"id": household_id, **fields}
            first_line[household_id] = row.line
        if allowed_center is not None and center not in (None, allowed_center):
            row.fail("care_center_id", "your token may only import households of its own center")
        resident = _resident_fields(row)
        if resident is not None:
            residents.append({"household_id": household_id, **resident})
        device = _device_fields(row)
        if device is not None:
            device_id = device["device_id"] or new_id("dev")
            if device_id in device_lines:
                row.fail("device_id", f"also on line {device_lines[device_id]}")
            device_lines.setdefault(device_id, row.line)
            topic = device.get("mqtt_topic")
            if topic is not None:
                if topic in topic_lines:
                    row.fail("mqtt_topic", f"also on line {topic_lines[topic]}")
                topic_lines.setdefault(topic, row.line)
            devices.append(
                {
                    "id": device_id,
                    "household_id": household_id,
                    "kind": device["kind"],
                    "source_format": device["source_format"],
                    "mqtt_topic": topic,
                    "room": device["room"],
                    "reporting_interval_s": device["reporting_interval_s"],
                }
            )
        result_rows.append(ImportedHousehold(line=row.line, household_id=household_id))

    errors = [e for r in rows for e in r.errors]
    by_line = {r.line: r for r in rows}
    for household_id in _existing(session, Household.id, set(households)):
        by_line[first_line[household_id]].fail(
            "household_id", f"household {household_id!r} already exists"
        )
    for device_id in _existing(session, Device.id, set(device_lines)):
        by_line[device_lines[device_id]].fail("device_id", f"device {device_id!r} already exists")
    for topic in _existing(
        session, Device.mqtt_topic, set(topic_lines), Device.retired_at.is_(None)
    ):
        by_line[topic_lines[topic]].fail("mqtt_topic", f"{topic!r} is used by an active device")
    errors = sorted((e for r in rows for e in r.errors), key=lambda e: (e.line, e.field, e.reason))
    if errors:
        raise ImportRejected(errors)

    now = utcnow()
    defaults = {
        "inactivity_hours": 24.0,
        "routine_enabled": True,
        "away_periods": [],
        "escalation_delays_s": [900, 900, 1800],
        "checkin_enabled": True,
        # a multi-row insert needs every column in every row: rows that leave these empty
        "checkin_schedule": None,
        "quiet_start": None,
        "quiet_end": None,
        "created_at": now,
    }
    # Core inserts (not ORM bulk inserts): several times faster for thousands of rows.
    if households:
        session.execute(
            insert(table_of(Household)), [{**defaults, **h} for h in households.values()]
        )
    if residents:
        session.execute(
            insert(table_of(Resident)),
            [
                {**r, "consent_at": now if r["consent"] else None, "created_at": now}
                for r in residents
            ],
        )
    if devices:
        session.execute(
            insert(table_of(Device)),
            [{**d, "installed_at": now, "created_at": now} for d in devices],
        )
    changes = changes_of(session)
    changes.households.update(households)
    changes.devices.update(d["id"] for d in devices)
    return ImportResult(
        households_created=len(households),
        devices_created=len(devices),
        residents_created=len(residents),
        households=result_rows,
    )


def _chunked_households(session: Session, ids: set[str]) -> list[Household]:
    found: list[Household] = []
    values = sorted(ids)
    for i in range(0, len(values), 500):
        found.extend(
            session.scalars(select(Household).where(Household.id.in_(values[i : i + 500])))
        )
    return found
