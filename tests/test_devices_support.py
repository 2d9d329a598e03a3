"""Shared helpers for the registry's tests (no tests here).

A real PostgreSQL (Debian's postgresql 15) is started once per test process, as the
``postgres`` user because it refuses to run as root, and stopped at exit. Each test gets
its own database.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from anbu.stack.services import free_port
from config import Settings

PG_BIN = Path("/usr/lib/postgresql/15/bin")

_lock = threading.Lock()
_server: dict[str, Any] = {}


def _as_postgres(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, **kwargs)


def postgres_server() -> str:
    """Start PostgreSQL once; return the base URL (``.../postgres``)."""
    with _lock:
        if "url" in _server:
            return str(_server["url"])
        if not (PG_BIN / "postgres").exists():
            pytest.skip("PostgreSQL 15 is not installed (apt-get install postgresql)")
        root = Path(tempfile.mkdtemp(prefix="anbu-pg-"))
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres", "postgres")
        data = root / "data"
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "--auth=trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            capture_output=True,
        )
        port = free_port()
        log = (root / "postgres.log").open("ab")
        process = subprocess.Popen(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(root),
                "-h",
                "127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        import psycopg

        while True:
            try:
                psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres").close()
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start; see {root}/postgres.log"
                    ) from None
                time.sleep(0.2)

        def stop() -> None:
            if process.poll() is None:
                # runuser forwards SIGTERM to postgres (smart shutdown); SIGINT is "fast".
                os.killpg(process.pid, 2)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
            shutil.rmtree(root, ignore_errors=True)

        atexit.register(stop)
        _server.update(url=url, port=port)
        return url


def new_postgres_database() -> str:
    """Create an empty database on the shared server; return its SQLAlchemy URL."""
    import psycopg

    postgres_server()
    name = f"anbu_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        f"host=127.0.0.1 port={_server['port']} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:{_server['port']}/{name}"


@pytest.fixture
def postgres_database() -> str:
    """A fresh database on a real PostgreSQL."""
    return new_postgres_database()


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


def wait_for(condition: Callable[[], Any], timeout_s: float = 30, step: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(step)


def read_registry(
    settings: Settings, until: Callable[[dict[bytes, bytes]], bool], timeout_s: float = 30
) -> dict[bytes, bytes]:
    """Read ``anbu.registry`` from the start (latest value per key) until ``until`` holds."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.kafka.topics.registry
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    latest: dict[bytes, bytes] = {}
    try:
        deadline = time.monotonic() + timeout_s
        partitions: set[int] | None = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} does not exist")
            time.sleep(0.2)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        while True:
            for records in consumer.poll(timeout_ms=300).values():
                for record in records:
                    latest[record.key] = record.value
            if until(latest):
                return latest
            if time.monotonic() > deadline:
                raise AssertionError(f"registry records not as expected; got keys {sorted(latest)}")
    finally:
        consumer.close()


def produce(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    """Send one record and wait for the broker's ack."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()
