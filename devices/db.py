"""Opening the registry database and bringing its schema up to date (Alembic)."""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_engines: dict[str, Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while the CLI writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` (SQLite file or PostgreSQL), shared per URL in a process."""
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        _engines[url] = engine
        return engine


def alembic_config(url: str) -> Config:
    """The Alembic configuration for the registry's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> Engine:
    """Bring the schema at ``url`` to the newest revision and return the engine.

    Runs once per URL and process; later calls return the engine at once.
    """
    engine = make_engine(url)
    if url in _migrated:
        return engine
    config = alembic_config(url)
    # Alembic narrates every step at INFO; a migration that ran is not news to an installer.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Every anbu process migrates at start (web, alerts, CLI), often at the same moment:
    # only one may run the DDL, the others wait and then find the schema current.
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    _migrated.add(url)
    return engine


_PG_LOCK_KEY = 0x616E6275  # "anbu"


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """An exclusive file lock beside a SQLite database (PostgreSQL uses an advisory lock)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def init_db(settings: Settings) -> Engine:
    """Migrate the configured registry database (``settings.registry_url()``)."""
    return migrate(settings.registry_url())


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
