"""Real services for the tests: Mosquitto, Tansu and InfluxDB on free ports.

They are started with the same specs ``anbu up`` uses (``anbu.stack.services``).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from anbu.stack.services import (
    ServiceSpec,
    free_port,
    influxdb_spec,
    mosquitto_spec,
    tansu_spec,
    wait_ready,
)

SERVICE_USER = ("anbu-service", "test-service-password")


@dataclass
class RunningService:
    """A service process started by a fixture."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self.spec.port is not None
        return self.spec.port

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def restart(self) -> None:
        """Start it again with the same spec (after :meth:`stop`)."""
        self.stop()
        self.process = _spawn(self.spec, self.log_path)
        wait_ready(self.spec, 30)


def _spawn(spec: ServiceSpec, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            spec.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **spec.env},
        )


@contextmanager
def running(spec: ServiceSpec, log_path: Path, timeout_s: float = 30) -> Iterator[RunningService]:
    """Run ``spec`` until the block ends."""
    service = RunningService(spec, _spawn(spec, log_path), log_path)
    try:
        wait_ready(spec, timeout_s)
        yield service
    finally:
        service.stop()


def start_mosquitto(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for a Mosquitto with the service account, on a free port."""
    spec = mosquitto_spec(directory, free_port(), service_user=SERVICE_USER)
    return spec, directory / "mosquitto.log"


def start_tansu(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for a Tansu broker on a free port."""
    directory.mkdir(parents=True, exist_ok=True)
    return tansu_spec(free_port()), directory / "tansu.log"


def start_influxdb(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for an InfluxDB on free ports."""
    spec = influxdb_spec(directory, free_port(), free_port())
    return spec, directory / "influxdb.log"
