"""A real PostgreSQL for the tests: one server per test process, a fresh database per test.

Debian's postgresql 15, started as the ``postgres`` user because it refuses to run as root,
and stopped at exit. The fixture ``postgres_database`` is registered for every test by
``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from anbu.stack.services import free_port
from testkit import processes

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
        process = processes.spawn(
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
            root / "postgres.log",
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
            # runuser forwards SIGTERM to postgres (smart shutdown); SIGINT is "fast".
            processes.stop(process, timeout_s=20, sig=signal.SIGINT)
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
