"""The alert store: open alerts, their history and notifications, in one SQL database.

``anbu alerts`` (the service) and ``anbu web`` (the inbox) share it: staff acknowledge in
the inbox, and the service's escalation loop reads the state from here before escalating,
so an acknowledgement stops escalation without any message between the two processes.
The default is a SQLite file under the data directory (WAL, so the two processes read while
the other writes); set ``alerts.database_url`` to PostgreSQL when they run on different
machines.

The ``history`` table doubles as the outbox for InfluxDB: each row is written there once
and marked, so nothing is lost while InfluxDB is down, even across restarts.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.sql.elements import ColumnElement

from alerts.exceptions import AlertNotFound, TransitionRefused
from alerts.model import (
    Alert,
    AlertState,
    HistoryEntry,
    HistoryLabel,
    HouseholdPolicy,
    Notification,
    NotificationStatus,
    from_micros,
    micros,
)
from anbu.events import HEALTH_KINDS
from config import Settings

metadata = MetaData()

alerts_table = Table(
    "alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("household_id", String(64), nullable=False),
    Column("care_center_id", String(64), nullable=False),
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


def _insert_ignore(conn: Connection, table: Table, **values: Any) -> bool:
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


def store_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the alert store for ``settings``."""
    url = settings.alerts.database_url
    if url:
        return str(url)
    return f"sqlite:///{settings.data_dir / 'alerts.sqlite3'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class AlertStore:
    """Durable alert state with the lifecycle's atomic operations.

    Args:
        url: SQLAlchemy URL (SQLite or PostgreSQL).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 10}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._create_tables()
        self._last_history_at = 0

    def _create_tables(self) -> None:
        # `anbu web` and `anbu alerts` start together; both may try to create the tables.
        for attempt in range(5):
            try:
                self._add_scope()
                metadata.create_all(self.engine)
                return
            except (OperationalError, ProgrammingError) as exc:
                if "already exists" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2)

    def _add_scope(self) -> None:
        """Bring a store from before ``scope`` existed up to date (dev stores of day one)."""
        inspector = inspect(self.engine)
        if not inspector.has_table("alerts"):
            return
        columns = {c["name"] for c in inspector.get_columns("alerts")}
        indexes = {i["name"] for i in inspector.get_indexes("alerts")}
        with self.engine.begin() as conn:
            if "scope" not in columns:
                conn.execute(
                    text("ALTER TABLE alerts ADD COLUMN scope VARCHAR(64) NOT NULL DEFAULT ''")
                )
            if inspector.has_table("notifications") and "claimed_until" not in {
                c["name"] for c in inspector.get_columns("notifications")
            }:
                conn.execute(text("ALTER TABLE notifications ADD COLUMN claimed_until BIGINT"))
            if "one_active_per_kind" in indexes:
                conn.execute(text("DROP INDEX one_active_per_kind"))
            for index in alerts_table.indexes:
                if index.name not in indexes:
                    index.create(conn, checkfirst=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertStore:
        """Open the store configured in ``settings`` (creating its tables)."""
        return cls(store_url(settings))

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a transaction that commits when the block ends."""
        with self.engine.begin() as conn:
            yield conn

    # --- dedupe and sources ------------------------------------------------------------

    def mark_seen(self, conn: Connection, key: str, now: datetime) -> bool:
        """Record a detector event's dedupe key; return False if it was seen before."""
        return _insert_ignore(conn, seen_table, key=key, at=micros(now))

    def alert_for_source(self, conn: Connection, source_id: str) -> Alert | None:
        """The alert a detector's alert id was mapped to, if any."""
        row = conn.execute(
            select(sources_table.c.alert_id).where(sources_table.c.source_id == source_id)
        ).first()
        return None if row is None else self._get(conn, row[0])

    def map_source(self, conn: Connection, source_id: str, alert_id: str) -> None:
        """Remember that a detector alert id belongs to ``alert_id``."""
        _insert_ignore(conn, sources_table, source_id=source_id, alert_id=alert_id)

    def active_for(
        self, conn: Connection, household_id: str, kind: str, scope: str = ""
    ) -> Alert | None:
        """The household's active alert of ``kind`` (and ``scope``), if any."""
        row = conn.execute(
            select(alerts_table).where(
                alerts_table.c.household_id == household_id,
                alerts_table.c.kind == kind,
                alerts_table.c.scope == scope,
                alerts_table.c.active == True,  # noqa: E712
            )
        ).first()
        return None if row is None else _alert(row._mapping)

    # --- lifecycle writes -----------------------------------------------------------

    def insert_alert(self, conn: Connection, alert: Alert) -> None:
        """Insert a new alert (its ``id`` must be new)."""
        conn.execute(insert(alerts_table).values(**_row(alert)))

    def touch(
        self,
        conn: Connection,
        alert_id: str,
        now: datetime,
        *,
        reason: str,
        reason_ko: str,
        severity: str,
        details: dict[str, Any],
    ) -> None:
        """Record a repeat or update from the detector on an active alert."""
        conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id)
            .values(
                reason=reason,
                reason_ko=reason_ko,
                severity=severity,
                details=json.dumps(details, sort_keys=True),
                updated_at=micros(now),
                repeats=alerts_table.c.repeats + 1,
            )
        )

    def add_history(
        self,
        conn: Connection,
        alert_id: str,
        at: datetime,
        label: HistoryLabel,
        actor: str,
        note: str,
        *,
        first: bool = False,
    ) -> None:
        """Append a history entry (also queued for InfluxDB).

        Times are made strictly increasing per alert and per process, since InfluxDB keeps
        one point per series and timestamp: two changes in the same microsecond would
        otherwise overwrite each other. ``first``: the alert has no history yet.
        """
        at_us = micros(at)
        last = 0
        if not first:
            last = (
                conn.execute(
                    select(func.max(history_table.c.at)).where(history_table.c.alert_id == alert_id)
                ).scalar()
                or 0
            )
        at_us = max(at_us, last + 1, self._last_history_at + 1)
        self._last_history_at = at_us
        conn.execute(
            insert(history_table).values(
                alert_id=alert_id, at=at_us, label=label.value, actor=actor, note=note
            )
        )

    def close_alert(
        self,
        conn: Connection,
        alert_id: str,
        state: AlertState,
        now: datetime,
        actor: str,
        note: str,
        *,
        allowed_from: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
    ) -> Alert:
        """Move an active alert to a closed state, with history.

        Raises:
            AlertNotFound: no such alert.
            TransitionRefused: it is not in one of ``allowed_from``.
        """
        current = self._get(conn, alert_id)
        if current is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        result = conn.execute(
            update(alerts_table)
            .where(
                alerts_table.c.id == alert_id,
                alerts_table.c.state.in_([s.value for s in allowed_from]),
            )
            .values(
                state=state.value,
                active=False,
                next_escalation_at=None,
                closed_by=actor,
                closed_at=micros(now),
                close_note=note,
                updated_at=micros(now),
            )
        )
        if result.rowcount != 1:
            raise TransitionRefused(
                f"alert {alert_id} is {current.state.value}; it cannot become {state.value}",
                state=current.state.value,
            )
        self.add_history(conn, alert_id, now, HistoryLabel(state.value), actor, note)
        updated = self._get(conn, alert_id)
        assert updated is not None
        return updated

    def acknowledge(
        self, conn: Connection, alert_id: str, now: datetime, actor: str, note: str
    ) -> Alert:
        """Acknowledge an open alert: someone took responsibility, escalation stops.

        Raises:
            AlertNotFound: no such alert.
            TransitionRefused: it is not open.
        """
        current = self._get(conn, alert_id)
        if current is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        result = conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id, alerts_table.c.state == AlertState.OPEN.value)
            .values(
                state=AlertState.ACKNOWLEDGED.value,
                next_escalation_at=None,
                acked_by=actor,
                acked_at=micros(now),
                ack_note=note,
                updated_at=micros(now),
            )
        )
        if result.rowcount != 1:
            raise TransitionRefused(
                f"alert {alert_id} is {current.state.value}; only an open alert can be "
                "acknowledged",
                state=current.state.value,
            )
        self.add_history(conn, alert_id, now, HistoryLabel.ACKNOWLEDGED, actor, note)
        updated = self._get(conn, alert_id)
        assert updated is not None
        return updated

    def due_for_escalation(self, now: datetime, limit: int = 500) -> list[Alert]:
        """Open alerts whose escalation deadline has passed."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alerts_table)
                .where(
                    alerts_table.c.state == AlertState.OPEN.value,
                    alerts_table.c.next_escalation_at.is_not(None),
                    alerts_table.c.next_escalation_at <= micros(now),
                )
                .order_by(alerts_table.c.next_escalation_at)
                .limit(limit)
            ).all()
        return [_alert(r._mapping) for r in rows]

    def set_escalation(
        self,
        conn: Connection,
        alert: Alert,
        *,
        tier: int,
        next_at: datetime | None,
        checkin_request_id: str | None = None,
        checkin_at: datetime | None = None,
    ) -> bool:
        """Advance an open alert's escalation, unless it changed meanwhile.

        Returns:
            False if the alert is no longer open at the tier it was read at (acknowledged
            in the inbox a moment ago): nothing was changed.
        """
        values: dict[str, Any] = {
            "tier": tier,
            "next_escalation_at": None if next_at is None else micros(next_at),
        }
        if checkin_request_id is not None and checkin_at is not None:
            values["checkin_request_id"] = checkin_request_id
            values["checkin_requested_at"] = micros(checkin_at)
        result = conn.execute(
            update(alerts_table)
            .where(
                alerts_table.c.id == alert.id,
                alerts_table.c.state == AlertState.OPEN.value,
                alerts_table.c.tier == alert.tier,
            )
            .values(**values)
        )
        return bool(result.rowcount == 1)

    # --- notifications ------------------------------------------------------------------

    def add_notification(
        self,
        conn: Connection,
        alert_id: str,
        tier: int,
        channel: str,
        target: str,
        now: datetime,
    ) -> str | None:
        """Queue a notification; return its id, or None if it already exists."""
        ident = notification_id(alert_id, tier, channel, target)
        inserted = _insert_ignore(
            conn,
            notifications_table,
            id=ident,
            alert_id=alert_id,
            tier=tier,
            channel=channel,
            target=target,
            status=NotificationStatus.PENDING.value,
            attempts=0,
            created_at=micros(now),
        )
        return ident if inserted else None

    def notification_for(
        self, conn: Connection, channel: str, target: str, alert_id: str | None = None
    ) -> Notification | None:
        """The first notification of ``channel`` to ``target`` (of one alert, if given)."""
        query = select(notifications_table).where(
            notifications_table.c.channel == channel, notifications_table.c.target == target
        )
        if alert_id is not None:
            query = query.where(notifications_table.c.alert_id == alert_id)
        row = conn.execute(query.limit(1)).first()
        return None if row is None else _notification(row._mapping)

    def has_channel(self, conn: Connection, alert_id: str, channel: str) -> bool:
        """Whether a notification of ``channel`` was ever queued for the alert."""
        row = conn.execute(
            select(notifications_table.c.id)
            .where(
                notifications_table.c.alert_id == alert_id,
                notifications_table.c.channel == channel,
            )
            .limit(1)
        ).first()
        return row is not None

    def alert_in(self, conn: Connection, alert_id: str) -> Alert | None:
        """One alert read inside ``conn``'s transaction, or None."""
        return self._get(conn, alert_id)

    def set_severity(self, conn: Connection, alert_id: str, severity: str, now: datetime) -> None:
        """Change an alert's severity (a resident asked for help)."""
        conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id)
            .values(severity=severity, updated_at=micros(now))
        )

    def pending_notifications(self) -> list[Notification]:
        """Notifications not yet delivered nor given up on (oldest first)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(notifications_table)
                .where(notifications_table.c.status == NotificationStatus.PENDING.value)
                .order_by(notifications_table.c.created_at)
            ).all()
        return [_notification(r._mapping) for r in rows]

    def get_notification(self, notification_id_: str) -> Notification | None:
        """One notification, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(notifications_table).where(notifications_table.c.id == notification_id_)
            ).first()
        return None if row is None else _notification(row._mapping)

    def claim(self, notification_id_: str, now: datetime, lease_s: float) -> bool:
        """Claim a pending notification's delivery for ``lease_s``.

        Returns False if it is not pending or another alerts service holds an unexpired
        claim on it. Several alerts services share the store; each sends only what it has
        claimed, so a notification goes out once. A service that dies while sending leaves a
        claim that expires, and another sends it then.
        """
        at = micros(now)
        with self.transaction() as conn:
            result = conn.execute(
                update(notifications_table)
                .where(
                    notifications_table.c.id == notification_id_,
                    notifications_table.c.status == NotificationStatus.PENDING.value,
                    or_(
                        notifications_table.c.claimed_until.is_(None),
                        notifications_table.c.claimed_until < at,
                    ),
                )
                .values(claimed_until=at + int(lease_s * 1_000_000))
            )
        return bool(result.rowcount == 1)

    def record_attempt(
        self,
        notification_id_: str,
        now: datetime,
        *,
        status: NotificationStatus,
        error: str | None,
        hold_s: float | None = None,
    ) -> None:
        """Record one delivery attempt's outcome (and renew the claim for ``hold_s``)."""
        values: dict[str, Any] = {
            "attempts": notifications_table.c.attempts + 1,
            "status": status.value,
            "last_error": error,
        }
        if hold_s is not None:
            values["claimed_until"] = micros(now) + int(hold_s * 1_000_000)
        if status is NotificationStatus.SENT:
            values["sent_at"] = micros(now)
        with self.transaction() as conn:
            conn.execute(
                update(notifications_table)
                .where(notifications_table.c.id == notification_id_)
                .values(**values)
            )

    # --- reading ----------------------------------------------------------------------

    def get(self, alert_id: str, *, full: bool = False) -> Alert:
        """One alert, with its history and notifications if ``full``.

        Raises:
            AlertNotFound: no such alert.
        """
        with self.engine.connect() as conn:
            alert = self._get(conn, alert_id)
            if alert is None:
                raise AlertNotFound(f"no alert {alert_id!r}")
            if full:
                self._attach(conn, [alert])
        return alert

    def list_alerts(
        self,
        *,
        centers: Sequence[str] | None = None,
        households: Sequence[str] | None = None,
        active_only: bool = False,
        closed_since: datetime | None = None,
        limit: int = 200,
    ) -> list[Alert]:
        """Alerts, active first, then most recent; with history and notifications.

        Args:
            centers: alerts of these care centers (with ``households``: either matches;
                both None: all).
            households: alerts of these households.
            active_only: only open or acknowledged alerts.
            closed_since: also closed alerts updated since then (ignored if active_only).
            limit: most alerts returned.
        """
        query = select(alerts_table)
        conditions: list[ColumnElement[bool]] = []
        scope: list[ColumnElement[bool]] = []
        if centers is not None:
            scope.append(alerts_table.c.care_center_id.in_(list(centers)))
        if households is not None:
            scope.append(alerts_table.c.household_id.in_(list(households)))
        if scope:
            conditions.append(or_(*scope))
        if active_only:
            conditions.append(alerts_table.c.active == True)  # noqa: E712
        elif closed_since is not None:
            conditions.append(
                or_(
                    alerts_table.c.active == True,  # noqa: E712
                    alerts_table.c.updated_at >= micros(closed_since),
                )
            )
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(
            alerts_table.c.active.desc(), alerts_table.c.updated_at.desc()
        ).limit(limit)
        with self.engine.connect() as conn:
            alerts = [_alert(r._mapping) for r in conn.execute(query).all()]
            self._attach(conn, alerts)
        return alerts

    def counts(self) -> dict[str, int]:
        """Alerts per state."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alerts_table.c.state, func.count()).group_by(alerts_table.c.state)
            ).all()
        return {str(state): int(count) for state, count in rows}

    def unwritten_history(self, after_seq: int, limit: int) -> list[tuple[HistoryEntry, Alert]]:
        """History entries not yet written to InfluxDB, after ``after_seq``, with their alert."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(history_table, alerts_table)
                .join(alerts_table, alerts_table.c.id == history_table.c.alert_id)
                .where(history_table.c.written == False, history_table.c.seq > after_seq)  # noqa: E712
                .order_by(history_table.c.seq)
                .limit(limit)
            ).all()
        out = []
        for row in rows:
            m = row._mapping
            entry = _history({c.name: m[c] for c in history_table.c})
            alert = _alert({c.name: m[c] for c in alerts_table.c})
            out.append((entry, alert))
        return out

    def mark_written(self, up_to_seq: int) -> None:
        """Mark history up to ``up_to_seq`` as written to InfluxDB."""
        with self.transaction() as conn:
            conn.execute(
                update(history_table)
                .where(history_table.c.seq <= up_to_seq, history_table.c.written == False)  # noqa: E712
                .values(written=True)
            )

    def unwritten_count(self) -> int:
        """History entries still waiting for InfluxDB."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(history_table.c.written == False)  # noqa: E712
                ).scalar()
                or 0
            )

    def _get(self, conn: Connection, alert_id: str) -> Alert | None:
        row = conn.execute(select(alerts_table).where(alerts_table.c.id == alert_id)).first()
        return None if row is None else _alert(row._mapping)

    def _attach(self, conn: Connection, alerts: list[Alert]) -> None:
        if not alerts:
            return
        by_id = {a.id: a for a in alerts}
        for row in conn.execute(
            select(history_table)
            .where(history_table.c.alert_id.in_(list(by_id)))
            .order_by(history_table.c.seq)
        ).all():
            entry = _history(row._mapping)
            by_id[entry.alert_id].history.append(entry)
        for row in conn.execute(
            select(notifications_table)
            .where(notifications_table.c.alert_id.in_(list(by_id)))
            .order_by(notifications_table.c.created_at, notifications_table.c.channel)
        ).all():
            note = _notification(row._mapping)
            by_id[note.alert_id].notifications.append(note)


def alert_scope(kind: str, device_id: str | None) -> str:
    """What besides household and kind makes an alert distinct: the device, for health."""
    return (device_id or "") if kind in HEALTH_KINDS else ""


def notification_id(alert_id: str, tier: int, channel: str, target: str) -> str:
    """Stable id of a notification, also sent as its idempotency key."""
    digest = hashlib.blake2b(f"{alert_id}|{tier}|{channel}|{target}".encode(), digest_size=16)
    return digest.hexdigest()


def _row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "household_id": alert.household_id,
        "care_center_id": alert.care_center_id,
        "dong": alert.dong,
        "kind": alert.kind,
        "severity": alert.severity,
        "state": alert.state.value,
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


def _alert(m: Any) -> Alert:
    return Alert(
        id=m["id"],
        household_id=m["household_id"],
        care_center_id=m["care_center_id"],
        dong=m["dong"],
        kind=m["kind"],
        severity=m["severity"],
        state=AlertState(m["state"]),
        reason=m["reason"],
        reason_ko=m["reason_ko"],
        details=json.loads(m["details"]),
        device_id=m["device_id"],
        raised_at=from_micros(m["raised_at"]),  # type: ignore[arg-type]
        opened_at=from_micros(m["opened_at"]),  # type: ignore[arg-type]
        updated_at=from_micros(m["updated_at"]),  # type: ignore[arg-type]
        tier=m["tier"],
        tiers=m["tiers"],
        escalation_delays_s=list(json.loads(m["escalation_delays"])),
        checkin_enabled=bool(m["checkin_enabled"]),
        next_escalation_at=from_micros(m["next_escalation_at"]),
        checkin_request_id=m["checkin_request_id"],
        checkin_requested_at=from_micros(m["checkin_requested_at"]),
        repeats=m["repeats"],
        acked_by=m["acked_by"],
        acked_at=from_micros(m["acked_at"]),
        ack_note=m["ack_note"],
        closed_by=m["closed_by"],
        closed_at=from_micros(m["closed_at"]),
        close_note=m["close_note"],
    )


def _history(m: Any) -> HistoryEntry:
    return HistoryEntry(
        seq=m["seq"],
        alert_id=m["alert_id"],
        at=from_micros(m["at"]),  # type: ignore[arg-type]
        label=HistoryLabel(m["label"]),
        actor=m["actor"],
        note=m["note"],
    )


def _notification(m: Any) -> Notification:
    return Notification(
        id=m["id"],
        alert_id=m["alert_id"],
        tier=m["tier"],
        channel=m["channel"],
        target=m["target"],
        status=NotificationStatus(m["status"]),
        attempts=m["attempts"],
        last_error=m["last_error"],
        created_at=from_micros(m["created_at"]),  # type: ignore[arg-type]
        sent_at=from_micros(m["sent_at"]),
    )



# --- doorstep visits (alerts/visits.py) ---------------------------------------------------
# Defined on the same metadata, so opening a store made before visits existed creates the
# table (``metadata.create_all`` in ``AlertStore.__init__`` adds missing tables and leaves the
# others alone): a new table needs no ALTER, unlike ``scope`` in ``_add_scope``.

visits_table = Table(
    "visits",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("household_id", String(64), nullable=False),
    Column("care_center_id", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    # personal data (what the worker saw): kept here and shown to the center, never sent
    # to InfluxDB (the alert history only names the visit and its outcome)
    Column("note", Text, nullable=False),
    Column("recorded_by", String(300), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("visits_household", "household_id", "at"),
    Index("visits_center", "care_center_id", "at"),
)


def keep_history_local(conn: Connection, alert_id: str) -> None:
    """Mark the alert's newest history entry as never to go to InfluxDB.

    For entries that are not state changes (a visit noted on an open alert): the
    dashboards take an alert's newest ``alert_events`` point as its state, so such a point
    would make an open alert look closed there.
    """
    newest = (
        select(func.max(history_table.c.seq))
        .where(history_table.c.alert_id == alert_id)
        .scalar_subquery()
    )
    conn.execute(update(history_table).where(history_table.c.seq == newest).values(written=True))


__all__ = [
    "AlertStore",
    "HouseholdPolicy",
    "keep_history_local",
    "notification_id",
    "store_url",
    "visits_table",
]
