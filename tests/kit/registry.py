"""What the registry's tests share: its database on SQLite and PostgreSQL, its app alone, and
its topic as a reader sees it.

The fixture ``engine`` (each test using it runs on SQLite and on PostgreSQL) is registered
for every test by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from config import Settings
from devices.db import migrate
from testkit.kafka_tail import KafkaTail


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The registry's database, migrated: on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")
    yield migrate(url)


def registry_app(settings: Settings) -> FastAPI:
    """An app with only the registry's router and hooks (as web/app.py mounts them)."""
    import devices.api as api

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await api.startup(app, settings)
        try:
            yield
        finally:
            await api.shutdown(app)

    app = FastAPI(title="anbu registry", lifespan=lifespan)
    app.state.settings = settings
    app.include_router(api.router)
    return app


def read_registry(
    settings: Settings, until: Callable[[dict[bytes, bytes]], bool], timeout_s: float = 30
) -> dict[bytes, bytes]:
    """Read ``anbu.registry`` from the start (latest value per key) until ``until`` holds."""

    def latest(records: list[tuple[bytes | None, bytes]]) -> dict[bytes, bytes]:
        return {key: value for key, value in records if key is not None}

    tail = KafkaTail(settings, settings.kafka.topics.registry)
    try:
        view = latest(tail.wait_for(lambda records: until(latest(records)), timeout_s))
    finally:
        tail.close()
    if not until(view):
        raise AssertionError(f"registry records not as expected; got keys {sorted(view)}")
    return view
