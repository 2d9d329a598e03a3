"""The alert store's tables and how a row becomes a model object and back.

One ``metadata`` for every table of the store, so opening a store creates whatever tables
it lacks (``metadata.create_all``); the conversion between rows (times as microseconds,
JSON text) and :mod:`alerts.model` objects lives beside the columns it reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql, sqlite

from alerts.model import (
    Alert,
    AlertState,
    HistoryEntry,
    HistoryLabel,
    Notification,
    NotificationStatus,
    from_micros,
    micros,
)
from anbu.events import HEALTH_KINDS

metadata = MetaData()


def household_table(name: str, *columns: Any) -> Table:
    """A table of the store whose rows each concern one household.

    Keyed by ``id``, with the household's and its care center's (pseudonymous) ids, then
    ``columns``.
    """
    return Table(
        name,
        metadata,
        Column("id", String(64), primary_key=True),
        Column("household_id", String(64), nullable=False),
        Column("care_center_id", String(64), nullable=False),
        *columns,
    )


alerts_table = household_table(
    "alerts",
    Column("dong", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("reason_ko", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("device_id", String(64)),
    Column("raised_at", BigInteger, nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("tier", Integer, nullable=False),
    Column("tiers", Integer, nullable=False),
    Column("escalation_delays", Text, nullable=False),
    Column("checkin_enabled", Boolean, nullable=False),
    Column("next_escalation_at", BigInteger),
    Column("checkin_request_id", String(64)),
    Column("checkin_requested_at", BigInteger),
    Column("repeats", Integer, nullable=False, default=0),
    Column("acked_by", String(128)),
    Column("acked_at", BigInteger),
    Column("ack_note", Text),
    Column("closed_by", String(128)),
    Column("closed_at", BigInteger),
    Column("close_note", Text),
    # "" for care alerts; the device for health alerts, so two silent devices of one
    # household are two alerts and the return of one does not close the other's.
    Column("scope", String(64), nullable=False, server_default=""),
    # One active alert per household, kind and scope, enforced by the database itself.
    Index(
        "one_active_per_scope",
        "household_id",
        "kind",
        "scope",
        unique=True,
        sqlite_where=Column("active") == True,  # noqa: E712 - SQL expression
        postgresql_where=Column("active") == True,  # noqa: E712
    ),
    Index("alerts_due", "active", "next_escalation_at"),
    Index("alerts_center", "care_center_id", "active"),
)

sources_table = Table(
    "alert_sources",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("alert_id", String(64), nullable=False),
)

seen_table = Table(
    "seen_events",
    metadata,
    Column("key", String(160), primary_key=True),
    Column("at", BigInteger, nullable=False),
)

history_table = Table(
    "history",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("label", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("note", Text, nullable=False),
    Column("written", Boolean, nullable=False, default=False),
    Index("history_unwritten", "written", "seq"),
)

notifications_table = Table(
    "notifications",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("alert_id", String(64), nullable=False, index=True),
    Column("tier", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    # until when one alerts service has claimed the delivery (several may run on one store)
    Column("claimed_until", BigInteger),
    Index("notifications_pending", "status"),
)

# --- doorstep visits (alerts/visits.py) ---------------------------------------------------
# Defined on the same metadata, so opening a store made before visits existed creates the
# table (``metadata.create_all`` in ``StoreDatabase.__init__`` adds missing tables and leaves the
# others alone): a new table needs no ALTER, unlike ``scope`` in ``_add_scope``.

visits_table = household_table(
    "visits",
    Column("outcome", String(16), nullable=False),
    # personal data (what the worker saw): kept here and shown to the center, never sent
    # to InfluxDB (the alert history only names the visit and its outcome)
    Column("note", Text, nullable=False),
    Column("recorded_by", String(300), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("visits_household", "household_id", "at"),
    Index("visits_center", "care_center_id", "at"),
)


def insert_ignore(conn: Connection, table: Table, **values: Any) -> bool:
    """Insert a row unless its key exists; return whether it was inserted.

    ``ON CONFLICT DO NOTHING`` in one statement, rather than a savepoint and a caught
    IntegrityError: this runs several times for every alert event.
    """
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: SQLAlchemy 2.1 with psycopg 3 reports a rowcount of -1 for
    # this statement, which read as "already there" made every event on PostgreSQL a duplicate
    key = next(iter(table.primary_key.columns))
    return conn.execute(statement.returning(key)).first() is not None


def alert_scope(kind: str, device_id: str | None) -> str:
    """What besides household and kind makes an alert distinct: the device, for health."""
    return (device_id or "") if kind in HEALTH_KINDS else ""


def notification_id(alert_id: str, tier: int, channel: str, target: str) -> str:
    """Stable id of a notification, also sent as its idempotency key."""
    digest = hashlib.blake2b(f"{alert_id}|{tier}|{channel}|{target}".encode(), digest_size=16)
    return digest.hexdigest()


def alert_row(alert: Alert) -> dict[str, Any]:
    """The ``alerts`` row of ``alert``."""
    return {
        "id": alert.id,
        **alert.labels(),
        "active": alert.state.active,
        "reason": alert.reason,
        "reason_ko": alert.reason_ko,
        "details": json.dumps(alert.details, sort_keys=True),
        "device_id": alert.device_id,
        "raised_at": micros(alert.raised_at),
        "opened_at": micros(alert.opened_at),
        "updated_at": micros(alert.updated_at),
        "tier": alert.tier,
        "tiers": alert.tiers,
        "escalation_delays": json.dumps(alert.escalation_delays_s),
        "checkin_enabled": alert.checkin_enabled,
        "next_escalation_at": (
            None if alert.next_escalation_at is None else micros(alert.next_escalation_at)
        ),
        "checkin_request_id": alert.checkin_request_id,
        "checkin_requested_at": (
            None if alert.checkin_requested_at is None else micros(alert.checkin_requested_at)
        ),
        "repeats": alert.repeats,
        "scope": alert_scope(alert.kind, alert.device_id),
    }


T = TypeVar("T")


def from_row(cls: Callable[..., T], m: Any, **converted: Any) -> T:
    """A model object (a dataclass) from a row (a mapping by column name).

    Each field is read from the column of its name as stored, unless ``converted`` gives
    it (times as microseconds, enums, JSON text, renamed columns); fields with neither a
    column nor a converted value keep their defaults (an alert's history).
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]  # a dataclass
    return cls(**{
        name: converted[name] if name in converted else m[name]
        for name in names
        if name in converted or name in m
    })


def alert_from_row(m: Any) -> Alert:
    """The alert of an ``alerts`` row (a mapping by column name); history not attached."""
    return from_row(
        Alert,
        m,
        state=AlertState(m["state"]),
        details=json.loads(m["details"]),
        raised_at=from_micros(m["raised_at"]),
        opened_at=from_micros(m["opened_at"]),
        updated_at=from_micros(m["updated_at"]),
        escalation_delays_s=list(json.loads(m["escalation_delays"])),
        checkin_enabled=bool(m["checkin_enabled"]),
        next_escalation_at=from_micros(m["next_escalation_at"]),
        checkin_requested_at=from_micros(m["checkin_requested_at"]),
        acked_at=from_micros(m["acked_at"]),
        closed_at=from_micros(m["closed_at"]),
    )


def history_from_row(m: Any) -> HistoryEntry:
    """The history entry of a ``history`` row."""
    return from_row(HistoryEntry, m, at=from_micros(m["at"]), label=HistoryLabel(m["label"]))


def notification_from_row(m: Any) -> Notification:
    """The notification of a ``notifications`` row."""
    return from_row(
        Notification,
        m,
        status=NotificationStatus(m["status"]),
        created_at=from_micros(m["created_at"]),
        sent_at=from_micros(m["sent_at"]),
    )
