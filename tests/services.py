"""Real services for the tests: Mosquitto, Apache Kafka and InfluxDB on free ports.

They are started with the same specs ``anbu up`` uses (``anbu.stack.services``,
``anbu.stack.apache_kafka``). ``ANBU_TEST_KAFKA=tansu`` runs the tests on the Tansu fallback
instead (to compare; it keeps nothing across a restart).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from anbu.stack.apache_kafka import READY_TIMEOUT_S, private_broker
from anbu.stack.services import (
    ServiceSpec,
    free_port,
    influxdb_spec,
    mosquitto_spec,
    wait_ready,
)

SERVICE_USER = ("anbu-service", "test-service-password")


@dataclass
class RunningService:
    """A service process started by a fixture."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_timeout_s: float = 30

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

    def kill(self) -> None:
        """Kill it with SIGKILL, as a crash would, and wait."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        """Start it again with the same spec (after :meth:`stop` or :meth:`kill`)."""
        self.stop()
        self.process = _spawn(self.spec, self.log_path)
        wait_ready(self.spec, self.ready_timeout_s)


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
    service = RunningService(spec, _spawn(spec, log_path), log_path, timeout_s)
    try:
        wait_ready(spec, timeout_s)
        yield service
    finally:
        service.stop()


def start_mosquitto(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for a Mosquitto with the service account, on a free port."""
    spec = mosquitto_spec(directory, free_port(), service_user=SERVICE_USER)
    return spec, directory / "mosquitto.log"


KAFKA_READY_S = READY_TIMEOUT_S


def start_kafka(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for an Apache Kafka broker on free ports with its data under ``directory``.

    With ``ANBU_TEST_KAFKA=tansu``: a Tansu broker (memory only) instead.
    """
    directory.mkdir(parents=True, exist_ok=True)
    kind = os.environ.get("ANBU_TEST_KAFKA", "apache")
    return private_broker(directory, kind=kind), directory / f"{kind}.log"


def start_influxdb(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for an InfluxDB on free ports."""
    spec = influxdb_spec(directory, free_port(), free_port())
    return spec, directory / "influxdb.log"
