"""Opening a SQL database by URL: a SQLite file on one machine, PostgreSQL across several.

The alert store and the registry both run on either; what differs between them is only
which pragmas their SQLite connections need and how long a writer waits for a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def open_engine(
    url: str, *, sqlite_pragmas: Sequence[str], timeout_s: float, **sqlite_args: Any
) -> Engine:
    """An engine for ``url``.

    Args:
        url: SQLAlchemy URL; ``sqlite:///path`` (the folder is created) or PostgreSQL.
        sqlite_pragmas: run on every new SQLite connection (``"journal_mode=WAL"``...).
        timeout_s: how long a SQLite connection waits for another's write lock.
        sqlite_args: further ``connect_args`` for SQLite.

    Returns:
        The engine; a PostgreSQL one checks a pooled connection before using it (the
        server may have restarted).
    """
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": timeout_s, **sqlite_args})

    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in sqlite_pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    event.listen(engine, "connect", set_pragmas)
    return engine
