"""Real services on free ports: Mosquitto, Apache Kafka and InfluxDB, as ``anbu up`` runs them.

They are started with the same specs ``anbu up`` uses (``anbu.stack.services``,
``anbu.stack.apache_kafka``). ``ANBU_TEST_KAFKA=tansu`` runs them on the Tansu fallback
instead (to compare; it keeps nothing across a restart).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anbu.stack.apache_kafka import READY_TIMEOUT_S, private_broker
from anbu.stack.services import (
    ServiceSpec,
    free_port,
    influxdb_spec,
    mosquitto_spec,
    wait_ready,
)
from config import Settings, load_settings
from testkit import processes

SERVICE_USER = ("anbu-service", "test-service-password")
"""The MQTT service account of the tests' Mosquitto."""

KAFKA_READY_S = READY_TIMEOUT_S


def start(spec: ServiceSpec, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``spec``'s process (its own session, its env added), output to ``log_path``."""
    return processes.spawn(spec.argv, log_path, env={**os.environ, **spec.env})


@dataclass
class RunningService:
    """A service process started by :func:`running`."""

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
        processes.stop(self.process)

    def kill(self) -> None:
        """Kill it with SIGKILL, as a crash would, and wait."""
        processes.kill(self.process)

    def restart(self) -> None:
        """Start it again with the same spec (after :meth:`stop` or :meth:`kill`)."""
        self.stop()
        self.process = start(self.spec, self.log_path)
        wait_ready(self.spec, self.ready_timeout_s)


@contextmanager
def running(spec: ServiceSpec, log_path: Path, timeout_s: float = 30) -> Iterator[RunningService]:
    """Run ``spec`` until the block ends (its output appended to ``log_path``)."""
    process = start(spec, log_path)
    service = RunningService(spec, process, log_path, timeout_s)
    try:
        wait_ready(spec, timeout_s)
        yield service
    finally:
        service.stop()


def start_mosquitto(
    directory: Path, service_user: tuple[str, str] = SERVICE_USER
) -> tuple[ServiceSpec, Path]:
    """Spec for a Mosquitto with the service account, on a free port, and its log's path."""
    spec = mosquitto_spec(directory, free_port(), service_user=service_user)
    return spec, directory / "mosquitto.log"


def start_kafka(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for an Apache Kafka broker on free ports with its data under ``directory``.

    With ``ANBU_TEST_KAFKA=tansu``: a Tansu broker (memory only) instead.
    """
    directory.mkdir(parents=True, exist_ok=True)
    kind = os.environ.get("ANBU_TEST_KAFKA", "apache")
    return private_broker(directory, kind=kind), directory / f"{kind}.log"


def start_influxdb(directory: Path) -> tuple[ServiceSpec, Path]:
    """Spec for an InfluxDB on free ports, and its log's path."""
    spec = influxdb_spec(directory, free_port(), free_port())
    return spec, directory / "influxdb.log"


def settings_for(
    data_dir: Path,
    mosquitto: RunningService | None,
    kafka: RunningService | None,
    influxdb: RunningService | None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Settings pointing at the given services, with a data directory of their own.

    Topic names, the InfluxDB database, the detectors' app id and the consumer groups get a
    unique suffix, so tests sharing one broker do not see each other's records, and a
    consumer does not join a group a member of an earlier test left behind (the broker
    would hold the join until that member's session timed out).
    """
    suffix = uuid.uuid4().hex[:8]
    base: dict[str, Any] = {
        "stack.data_dir": str(data_dir),
        "mqtt.username": SERVICE_USER[0],
        "mqtt.password": SERVICE_USER[1],
        "influx.database": f"anbu_{suffix}",
        "kafka.topics.events": f"anbu.events.{suffix}",
        "kafka.topics.sos": f"anbu.sos.{suffix}",
        "kafka.topics.deadletter": f"anbu.deadletter.{suffix}",
        "kafka.topics.registry": f"anbu.registry.{suffix}",
        "kafka.topics.alerts": f"anbu.alerts.{suffix}",
        "detectors.app_id": f"anbu-detectors-{suffix}",
        "alerts.group_id": f"anbu-alerts-{suffix}",
        "series.group_id": f"anbu-series-{suffix}",
        "registry.consumer_group": f"anbu-registry-{suffix}",
    }
    if mosquitto is not None:
        base["mqtt.port"] = mosquitto.port
    if kafka is not None:
        base["kafka.bootstrap_servers"] = f"127.0.0.1:{kafka.port}"
    if influxdb is not None:
        base["influx.url"] = f"http://127.0.0.1:{influxdb.port}"
    base.update(overrides or {})
    return load_settings(None, base)
