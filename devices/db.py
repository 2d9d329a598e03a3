"""Opening the registry database and bringing its schema up to date (Alembic)."""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from anbu.sql_engine import open_engine
from config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_engines: dict[str, Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


# WAL lets the web process read while the CLI writes; foreign keys are off by default.
_PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` (SQLite file or PostgreSQL), shared per URL in a process."""
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        engine = open_engine(url, sqlite_pragmas=_PRAGMAS, timeout_s=30)
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
