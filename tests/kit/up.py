"""``anbu up`` as its tests drive it: a stack on free ports, ``anbu status`` read, Ctrl-C,
and what stands around it (a care center's webhook receiver, a gateway, the events topic).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from anbu.events import EventBatch
from anbu.stack.apache_kafka import READY_TIMEOUT_S, kafka_answers
from anbu.stack.services import free_port
from anbu.stack.supervise import rpc
from config import Settings, load_settings
from testkit import processes
from testkit.http_stand_in import HttpStandIn, Posted
from testkit.kafka_tail import KafkaTail
from testkit.polling import wait_for
from testkit.publishing import connect_publisher

INFRA = {"mosquitto", "kafka", "influxdb"}

PASSWORD = "outage-test-service-password"
"""The MQTT service account's password in :func:`up_env` with a webhook."""


def up_env(data_dir: Path, webhook_url: str | None = None) -> dict[str, str]:
    """``anbu up``'s environment: every port free, no ``ANBU_*`` of this process.

    With ``webhook_url``: alerts go there, and the service account has :data:`PASSWORD`.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env.update(
        {
            "ANBU_STACK__DATA_DIR": str(data_dir),
            "ANBU_MQTT__PORT": str(free_port()),
            "ANBU_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "ANBU_INFLUX__URL": f"http://127.0.0.1:{free_port()}",
            "ANBU_STACK__INFLUX_RPC_PORT": str(free_port()),
            "ANBU_STACK__KAFKA_CONTROLLER_PORT": str(free_port()),
            "ANBU_WEB__PORT": str(free_port()),
            "ANBU_INGEST__METRICS_PORT": str(free_port()),
            "ANBU_DETECTORS__WEB_PORT": str(free_port()),
            "ANBU_ALERTS__METRICS_PORT": str(free_port()),
        }
    )
    if webhook_url is not None:
        env["ANBU_MQTT__PASSWORD"] = PASSWORD
        env["ANBU_ALERTS__WEBHOOK_URL"] = webhook_url
    return env


def up_settings(env: dict[str, str]) -> Settings:
    """Settings for a client of the stack :func:`up_env` (with a webhook) describes."""
    values = {
        "stack.data_dir": env["ANBU_STACK__DATA_DIR"],
        "mqtt.port": int(env["ANBU_MQTT__PORT"]),
        "mqtt.password": PASSWORD,
        "kafka.bootstrap_servers": env["ANBU_KAFKA__BOOTSTRAP_SERVERS"],
        "ingest.metrics_port": int(env["ANBU_INGEST__METRICS_PORT"]),
    }
    return load_settings(None, values)


def start_up(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``anbu up`` (in this session, as a terminal would), output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "anbu", "up"], env=env, stdout=out,
            stderr=subprocess.STDOUT, cwd=cwd,
        )


def ctrl_c(up: subprocess.Popen[bytes], timeout_s: float = 120) -> int:
    """Ctrl-C ``anbu up`` (SIGKILL if it is not gone in ``timeout_s``); its exit status."""
    processes.stop(up, timeout_s=timeout_s, sig=signal.SIGINT)
    return up.returncode


def anbu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``anbu <args>`` against the stack (two minutes at most)."""
    return processes.run_anbu(*args, env=env)


@dataclass
class Status:
    """What ``anbu status`` said: its exit code, (state, pid) by component, its text."""

    code: int
    rows: dict[str, tuple[str, int]]
    text: str

    def states(self) -> dict[str, str]:
        """The state of each component (RUNNING, DEGRADED, ...)."""
        return {name: state for name, (state, _pid) in self.rows.items()}

    def all_running(self) -> bool:
        """Exit 0, every component of the infrastructure there, and everything RUNNING."""
        states = self.states()
        return self.code == 0 and INFRA <= set(states) and all(
            state == "RUNNING" for state in states.values()
        )


def status(env: dict[str, str]) -> Status:
    """Run ``anbu status`` and read its table (reason lines, indented, left out)."""
    result = anbu(env, "status")
    rows: dict[str, tuple[str, int]] = {}
    for line in result.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and not line.startswith(" "):
            rows[parts[0]] = (parts[1], int(parts[2]) if parts[2].isdigit() else 0)
    return Status(result.returncode, rows, result.stdout)


def supervised_running(data_dir: Path, name: str | None = None, old_pid: int = 0) -> bool:
    """Whether supervisord has every program RUNNING: a cheap look, from this process.

    Args:
        data_dir: the stack's data directory.
        name: only this program, and only under a pid other than ``old_pid``.
        old_pid: the pid ``name`` had before it died.
    """
    try:
        infos = rpc(data_dir).supervisor.getAllProcessInfo()
    except Exception:  # noqa: BLE001 - not started yet, or starting: not running
        return False
    if name is not None:
        infos = [info for info in infos if info["name"] == name and info["pid"] != old_pid]
    return bool(infos) and all(info["statename"] == "RUNNING" for info in infos)


def wait_all_running(env: dict[str, str], timeout_s: float) -> Status:
    """Wait until ``anbu status`` says everything is RUNNING and exits 0; return it.

    ``anbu status`` shows nothing RUNNING that supervisord does not run, so until
    supervisord says so the wait asks it directly: an ``anbu status`` a second (a Python
    process each) took CPU from the starting stack on a two-core machine.
    """
    deadline = time.monotonic() + timeout_s
    data_dir = Path(env["ANBU_STACK__DATA_DIR"])
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: supervised_running(data_dir), timeout_s, step_s=0.5)
    timeout_s = max(1.0, deadline - time.monotonic())
    last = [Status(-1, {}, "")]

    def running() -> Status | None:
        last[0] = status(env)
        return last[0] if last[0].all_running() else None

    try:
        return wait_for(running, timeout_s, step_s=1)
    except TimeoutError:
        pytest.fail(f"not all RUNNING after {timeout_s} s:\n{last[0].text}")


def wait_kafka(settings: Settings, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Wait until the stack's Kafka answers again (after a crash or a stop)."""
    host, _, port = settings.kafka.bootstrap_servers[0].rpartition(":")
    wait_for(lambda: kafka_answers(host, int(port)), timeout_s, step_s=0.2, what="Kafka back")


def wait_restarted(env: dict[str, str], name: str, old_pid: int, timeout_s: float = 120) -> int:
    """Wait until supervisord runs ``name`` again under a new pid; return it.

    As :func:`wait_all_running`: supervisord is asked first, then ``anbu status``.
    """
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: supervised_running(Path(env["ANBU_STACK__DATA_DIR"]), name, old_pid),
                 timeout_s, step_s=0.25)
    timeout_s = max(1.0, deadline - time.monotonic())

    def new_pid() -> int:
        state, pid = status(env).rows.get(name, ("", 0))
        return pid if state == "RUNNING" and pid not in (0, old_pid) else 0

    return wait_for(new_pid, timeout_s, step_s=0.5, what=f"{name} restarted")


class Webhooks:
    """A real HTTP server standing in for a care center's system: keeps every alert body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.server = HttpStandIn(self.answer, port=free_port())
        self.url = self.server.url("/hook")

    def answer(self, request: Posted) -> int:
        try:
            self.bodies.append(request.json())
        except ValueError:
            self.bodies.append({"unreadable": True})
        return 200

    def kinds(self) -> list[str]:
        return [str(body.get("kind")) for body in self.bodies]


class Gateway:
    """A registered gateway, publishing heartbeats (seq numbered) and an SOS at QoS 1."""

    def __init__(self, settings: Settings, gateway_id: str) -> None:
        self.topic = f"anbu/{gateway_id}"
        self.client = connect_publisher(settings, f"test-{gateway_id}")
        self.seq = 0
        self._lock = threading.Lock()
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def heartbeat(self) -> None:
        with self._lock:
            seq, self.seq = self.seq, self.seq + 1
        payload = json.dumps({"type": "heartbeat", "uptime_s": seq, "seq": seq}).encode()
        self.infos.append(self.client.publish(f"{self.topic}/heartbeat", payload, qos=1))

    def sos(self) -> None:
        payload = json.dumps({"type": "sos", "source": "button"}).encode()
        self.client.publish(f"{self.topic}/sos", payload, qos=1).wait_for_publish(30)

    def wait_published(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for info in self.infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def event_keys(
    settings: Settings, devices: set[str], want: int, timeout_s: float, kind: str | None = None
) -> set[str]:
    """The idempotency keys of the devices' events (of ``kind``, if given) in ``anbu.events``.

    Reads until ``want`` are found or ``timeout_s`` has passed.
    """
    tail = KafkaTail(settings, settings.kafka.topics.events)
    keys: set[str] = set()
    read = 0

    def done(records: list[tuple[bytes | None, bytes]]) -> bool:
        nonlocal read
        for _key, value in records[read:]:
            keys.update(
                event.idempotency_key
                for event in EventBatch.from_json(value).events
                if event.device_id in devices and kind in (None, event.kind)
            )
        read = len(records)
        return len(keys) >= want

    try:
        tail.wait_for(done, timeout_s)
    finally:
        tail.close()
    return keys
