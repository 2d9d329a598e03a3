"""Registry benchmark: a 10,000-household CSV import, refused (five bad rows) and accepted."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.csv_import import import_csv
from devices.db import migrate
from devices.exceptions import ImportRejected

HEADER = (
    "household_id,care_center_id,dong,inactivity_hours,quiet_hours,resident_name,"
    "resident_phone,resident_birth_date,resident_consent,device_kind,source_format,"
    "mqtt_topic,room,reporting_interval_s"
)

# (what breaks, how): each bad row breaks one column in its own way.
_FAULTS: list[tuple[str, str]] = [
    ("care_center_id", "unknown care center"),
    ("device_kind", "unknown device kind"),
    ("mqtt_topic", "topic already used on another line"),
    ("quiet_hours", "hour 25"),
    ("resident_birth_date", "month 13"),
]


def make_csv(households: int, bad_lines: list[int] | None = None) -> str:
    """A CSV of ``households`` rows (one device each) for care centers ``cc-bench-0..9``.

    Args:
        households: number of rows.
        bad_lines: file line numbers (header = 1) to break, one fault each, in the order
            of :data:`_FAULTS` (cycled).
    """
    bad = {line: _FAULTS[i % len(_FAULTS)][0] for i, line in enumerate(bad_lines or [])}
    lines = [HEADER]
    for i in range(households):
        line = i + 2
        fields = {
            "household_id": f"hh-b{i:06d}",
            "care_center_id": f"cc-bench-{i % 10}",
            "dong": f"dong-{i % 40}",
            "inactivity_hours": "24",
            "quiet_hours": "22:00-06:00",
            "resident_name": f"Resident {i}",
            "resident_phone": f"010-{i // 10000:04d}-{i % 10000:04d}",
            "resident_birth_date": "1941-05-17",
            "resident_consent": "yes",
            "device_kind": "motion",
            "source_format": "zigbee2mqtt",
            "mqtt_topic": f"zigbee2mqtt/b{i:06d}_pir",
            "room": "living",
            "reporting_interval_s": "3600",
        }
        fault = bad.get(line)
        if fault == "care_center_id":
            fields["care_center_id"] = "cc-nowhere"
        elif fault == "device_kind":
            fields["device_kind"] = "toaster"
        elif fault == "mqtt_topic":
            fields["mqtt_topic"] = "zigbee2mqtt/b000000_pir"
        elif fault == "quiet_hours":
            fields["quiet_hours"] = "25:00-06:00"
        elif fault == "resident_birth_date":
            fields["resident_birth_date"] = "1941-13-01"
        lines.append(",".join(fields.values()))
    return "\n".join(lines) + "\n"


def seed_centers(session: Session) -> None:
    """The ten care centers the generated rows name."""
    from devices.service import create_care_center

    for c in range(10):
        create_care_center(session, f"cc-bench-{c}", f"Bench center {c}")
    session.commit()


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def run(households: int = 10_000, database_url: str | None = None) -> dict[str, Any]:
    """Import ``households`` rows: first with five bad rows (refused), then clean.

    Args:
        households: rows in the file.
        database_url: SQLAlchemy URL of an empty database; unset: a temporary SQLite file.

    Returns:
        Seconds for the refused and the accepted import, rows per second, and what was named.
    """
    from devices.models import Device, Household

    with tempfile.TemporaryDirectory(prefix="anbu-bench-registry-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'registry.sqlite3'}"
        engine = migrate(url)
        with Session(engine) as session:
            seed_centers(session)
        step = max(households // 5, 1)
        bad_lines = [2 + step // 2 + k * step for k in range(5)]
        bad_text = make_csv(households, bad_lines)
        good_text = make_csv(households)

        with Session(engine) as session:
            started = time.perf_counter()
            try:
                import_csv(session, bad_text)
                raise AssertionError("an import with bad rows was accepted")
            except ImportRejected as exc:
                named = sorted({e.line for e in exc.errors})
            refused_s = time.perf_counter() - started
            session.rollback()
            left = _count(session, Household)

        with Session(engine) as session:
            started = time.perf_counter()
            result = import_csv(session, good_text)
            session.commit()
            accepted_s = time.perf_counter() - started
            stored = _count(session, Household), _count(session, Device)
        engine.dispose()
    return {
        "households": households,
        "database": engine.dialect.name,
        "bad_lines": bad_lines,
        "bad_lines_named": named,
        "households_after_refusal": left,
        "refused_s": round(refused_s, 3),
        "accepted_s": round(accepted_s, 3),
        "rows_per_s": round(households / accepted_s),
        "households_created": result.households_created,
        "households_stored": stored[0],
        "devices_stored": stored[1],
    }
