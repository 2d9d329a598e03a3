"""A private stack: Mosquitto, Kafka, InfluxDB and ``anbu`` processes of one's own.

Started on free ports in a temporary folder (services from the same specs ``anbu up`` uses,
``python -m anbu bridge/worker/alerts`` with ``ANBU_*`` environment), so a running stack,
the test session's services or other benchmarks are not disturbed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anbu.kafka_topics import ensure_topics
from anbu.stack.apache_kafka import READY_TIMEOUT_S, private_broker
from anbu.stack.services import free_port, influxdb_spec, mosquitto_spec
from config import Settings, load_settings
from config.cli_context import CliContext
from testkit import processes
from testkit.services import running

SERVICE_USER = ("anbu-bench", "bench-service-password")
"""The MQTT service account of a private stack's Mosquitto."""

APP_COMMANDS = {"bridge": ["bridge"], "worker": ["worker"], "alerts": ["alerts"]}


@dataclass
class PrivateStack:
    """A running private stack.

    Attributes:
        settings: settings pointing at it.
        directory: its data directory (logs under ``log/``).
        env: environment that gives child processes the same settings.
        apps: the anbu processes started, by name.
    """

    settings: Settings
    directory: Path
    env: dict[str, str]
    apps: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_app(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        """Start ``python -m anbu <name>`` with the stack's settings."""
        self.apps[name] = processes.spawn(
            [sys.executable, "-m", "anbu", *APP_COMMANDS[name]],
            self.directory / "log" / f"{name}.log",
            env={**os.environ, **self.env, **(extra_env or {})},
            cwd=self.directory,
        )

    def check_apps(self) -> None:
        """Raise if an app process died, naming its log."""
        for name, process in self.apps.items():
            if process.poll() is not None:
                tail = (self.directory / "log" / f"{name}.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"anbu {name} exited with {process.returncode}:\n{tail}")

    def stop_apps(self) -> None:
        """Stop every app process (SIGTERM, then SIGKILL after 20 s)."""
        processes.stop(*self.apps.values(), timeout_s=20)
        self.apps.clear()


@contextmanager
def private_stack(overrides: dict[str, Any] | None = None) -> Iterator[PrivateStack]:
    """Mosquitto, Kafka and InfluxDB of one's own on free ports, until the block ends.

    Args:
        overrides: dotted settings on top of the stack's own (``{"web.port": 1234}``).
    """
    with tempfile.TemporaryDirectory(prefix="anbu-bench-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        mqtt_port, influx_port, rpc_port = (free_port() for _ in range(3))
        kafka = private_broker(base / "kafka")
        for spec, name in (
            (mosquitto_spec(base / "mosquitto", mqtt_port, service_user=SERVICE_USER), "mosquitto"),
            (kafka, "kafka"),
            (influxdb_spec(base / "influxdb", influx_port, rpc_port), "influxdb"),
        ):
            stack.enter_context(running(spec, base / "log" / f"{name}.log", READY_TIMEOUT_S))
        values: dict[str, Any] = {
            "stack.data_dir": str(base / "var"),
            "mqtt.port": mqtt_port,
            "mqtt.username": SERVICE_USER[0],
            "mqtt.password": SERVICE_USER[1],
            "kafka.bootstrap_servers": f"127.0.0.1:{kafka.port}",
            "influx.url": f"http://127.0.0.1:{influx_port}",
            "ingest.metrics_port": free_port(),
            "detectors.web_port": free_port(),
            "alerts.metrics_port": free_port(),
            "web.port": free_port(),
            **(overrides or {}),
        }
        settings = load_settings(None, values)
        env = CliContext(settings=settings, overrides=values).child_env()
        ensure_topics(settings)
        private = PrivateStack(settings, base, env)
        try:
            yield private
        finally:
            private.stop_apps()
