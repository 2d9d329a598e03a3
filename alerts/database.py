"""The alert store's database: the engine, its tables brought up to date, transactions.

``anbu alerts`` (the service) and ``anbu web`` (the inbox) share one database. The default
is a SQLite file under the data directory (WAL, so the two processes read while the other
writes); set ``alerts.database_url`` to PostgreSQL when they run on different machines.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.model import Alert
from alerts.tables import alert_from_row, alerts_table, metadata
from config import Settings


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


class StoreDatabase:
    """An open alert database with its tables; the base of :class:`alerts.store.AlertStore`.

    Args:
        url: SQLAlchemy URL (SQLite or PostgreSQL).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 10}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._create_tables()

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
    def from_settings(cls, settings: Settings) -> Self:
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

    def alert_in(self, conn: Connection, alert_id: str) -> Alert | None:
        """One alert read inside ``conn``'s transaction, or None."""
        return self._get(conn, alert_id)

    def _get(self, conn: Connection, alert_id: str) -> Alert | None:
        row = conn.execute(select(alerts_table).where(alerts_table.c.id == alert_id)).first()
        return None if row is None else alert_from_row(row._mapping)
