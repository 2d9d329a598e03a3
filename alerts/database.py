"""The alert store's database: the engine, its tables brought up to date, transactions.

``anbu alerts`` (the service) and ``anbu web`` (the inbox) share one database. The default
is a SQLite file under the data directory (WAL, so the two processes read while the other
writes); set ``alerts.database_url`` to PostgreSQL when they run on different machines.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.model import Alert
from alerts.tables import alert_from_row, alerts_table, metadata
from anbu.sql_engine import open_engine
from config import Settings


def store_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the alert store for ``settings``."""
    url = settings.alerts.database_url
    if url:
        return str(url)
    return f"sqlite:///{settings.data_dir / 'alerts.sqlite3'}"


# WAL: the inbox (``anbu web``) reads while the service writes, and the other way round
_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000")


class StoreDatabase:
    """An open alert database with its tables; the base of :class:`alerts.store.AlertStore`.

    Args:
        url: SQLAlchemy URL (SQLite or PostgreSQL).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = open_engine(
            url, sqlite_pragmas=_PRAGMAS, timeout_s=10, check_same_thread=False
        )
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
