"""The Kafka broker SIGKILLed mid-stream under ``anbu up``; nobody touches anything after.

5,000 QoS 1 gateway heartbeats are in flight when the broker is killed; it stays down for
:data:`OUTAGE_S` while an SOS is pressed, then the test starts it again on the same data dir.
Afterwards, by themselves: every message's idempotency key is in Kafka, the SOS is one alert
and one webhook, no ``gateway_offline`` is raised, and ``anbu status`` said DEGRADED during
the outage and RUNNING after.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from anbu.events import EventBatch, SosEvent
from anbu.stack.apache_kafka import kafka_answers
from anbu.stack.services import free_port
from anbu.stack.supervise import rpc
from config import Settings, load_settings
from ingest.testing import KafkaTail
from tests.test_stack_up import _env as stack_env

MESSAGES = 5_000
OUTAGE_S = 30.0
HEARTBEAT_S = 10
"""The gateway's registered heartbeat interval: short, so a false ``gateway_offline`` would
come within the test (silence of twice this raises it)."""

PASSWORD = "outage-test-service-password"


class Webhooks:
    """A real HTTP server standing in for a care center's system: keeps every alert body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    bodies.append(json.loads(self.rfile.read(length)))
                except ValueError:
                    bodies.append({"unreadable": True})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def kinds(self) -> list[str]:
        return [str(body.get("kind")) for body in self.bodies]


def _env(data_dir: Path, webhook_url: str) -> dict[str, str]:
    env = stack_env(data_dir)  # every port free, as `anbu up`'s own test picks them
    env["ANBU_MQTT__PASSWORD"] = PASSWORD
    env["ANBU_ALERTS__WEBHOOK_URL"] = webhook_url
    return env


def _settings(env: dict[str, str]) -> Settings:
    values = {
        "stack.data_dir": env["ANBU_STACK__DATA_DIR"],
        "mqtt.port": int(env["ANBU_MQTT__PORT"]),
        "mqtt.password": PASSWORD,
        "kafka.bootstrap_servers": env["ANBU_KAFKA__BOOTSTRAP_SERVERS"],
        "ingest.metrics_port": int(env["ANBU_INGEST__METRICS_PORT"]),
    }
    return load_settings(None, values)


def _anbu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anbu", *args], env=env, capture_output=True, text=True,
        timeout=120,
    )


def _status(env: dict[str, str]) -> tuple[int, dict[str, str], str]:
    result = _anbu(env, "status")
    rows = {}
    for line in result.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(" "):
            rows[parts[0]] = parts[1]
    return result.returncode, rows, result.stdout


def _wait_running(env: dict[str, str], timeout_s: float) -> float:
    """Wait until ``anbu status`` says all RUNNING and exits 0; return when (monotonic)."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        code, rows, text = _status(env)
        if code == 0 and rows and all(state == "RUNNING" for state in rows.values()):
            return time.monotonic()
        time.sleep(1)
    pytest.fail(f"not all RUNNING after {timeout_s} s:\n{text}")


def _recovery_times(env: dict[str, str], since: float, timeout_s: float) -> dict[str, float]:
    """Seconds after ``since`` at which each component was first RUNNING again."""
    first: dict[str, float] = {}
    deadline = since + timeout_s
    text = ""
    while time.monotonic() < deadline:
        code, rows, text = _status(env)
        now = time.monotonic() - since
        for name, state in rows.items():
            if state == "RUNNING":
                first.setdefault(name, now)
            else:
                first.pop(name, None)
        if code == 0 and rows and set(first) >= set(rows):
            return first
        time.sleep(0.5)
    pytest.fail(f"not all RUNNING {timeout_s} s after the broker was back:\n{text}")


def _metric(settings: Settings, name: str) -> float:
    url = f"http://127.0.0.1:{settings.ingest.metrics_port}/metrics"
    try:
        for line in httpx.get(url, timeout=2).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    except httpx.HTTPError:
        pass
    return -1.0


class Gateway:
    """The registered gateway, publishing heartbeats (seq numbered) and an SOS at QoS 1."""

    def __init__(self, settings: Settings, gateway_id: str) -> None:
        self.topic = f"anbu/{gateway_id}"
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-{gateway_id}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(settings.mqtt.username, PASSWORD)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(settings.mqtt.host, settings.mqtt.port, keepalive=30)
        self.client.loop_start()
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


def _register(env: dict[str, str]) -> tuple[str, str]:
    """A care center, a household and its gateway, as an installer registers them."""
    result = _anbu(env, "devices", "add-center", "cc-out", "Outage Center", "--dong", "Seogyo")
    assert result.returncode == 0, result.stderr
    result = _anbu(env, "devices", "add-household", "--center", "cc-out", "--dong", "Seogyo")
    assert result.returncode == 0, result.stderr
    household = result.stdout.strip().splitlines()[-1]
    result = _anbu(
        env, "devices", "add-gateway", household, "--heartbeat-interval-s", str(HEARTBEAT_S)
    )
    assert result.returncode == 0, result.stderr
    gateway = result.stdout.split("gateway:")[1].split()[0]
    return household, gateway


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


def _keys_in_kafka(settings: Settings, gateway: str, want: int, timeout_s: float) -> int:
    """How many distinct idempotency keys of the gateway's heartbeats ``anbu.events`` holds."""
    return len(event_keys(settings, {gateway}, want, timeout_s, kind="heartbeat"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_broker_sigkill_mid_stream_recovers_by_itself(tmp_path: Path) -> None:
    hooks = Webhooks()
    data_dir = tmp_path / "var"
    env = _env(data_dir, hooks.url)
    settings = _settings(env)
    up_log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen(
        [sys.executable, "-m", "anbu", "up"], env=env, stdout=up_log, stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    gateway: Gateway | None = None
    stop_beating = threading.Event()
    try:
        _wait_running(env, 180)
        household, gateway_id = _register(env)
        gateway = Gateway(settings, gateway_id)
        # The bridge knows the gateway once a heartbeat is acknowledged (registry followed).
        deadline = time.monotonic() + 90
        while _metric(settings, "anbu_ingest_acked_total") < 1:
            assert time.monotonic() < deadline, "the bridge forwarded no heartbeat"
            gateway.heartbeat()
            time.sleep(1)
        _wait_running(env, 60)  # positive control: a healthy stack says RUNNING, exit 0

        # The gateway keeps beating every few seconds for the whole test, as a real one does.
        def beat() -> None:
            while not stop_beating.wait(2):
                gateway.heartbeat()

        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        for _ in range(MESSAGES):
            gateway.heartbeat()
        acked = _metric(settings, "anbu_ingest_acked_total")
        deadline = time.monotonic() + 60
        while acked < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
            acked = _metric(settings, "anbu_ingest_acked_total")

        # SIGKILL the broker mid-stream, then keep it down (supervisord would restart it).
        states = {p["name"]: p for p in rpc(data_dir).supervisor.getAllProcessInfo()}
        os.kill(states["kafka"]["pid"], signal.SIGKILL)
        killed = time.monotonic()
        rpc(data_dir).supervisor.stopProcess("kafka", True)
        assert acked < MESSAGES + 10, "the stream had ended before the broker was killed"
        gateway.sos()  # pressed during the outage
        degraded: dict[str, str] = {}
        text = ""
        while time.monotonic() - killed < OUTAGE_S:
            _code, rows, text = _status(env)
            degraded.update({n: s for n, s in rows.items() if s == "DEGRADED"})
            time.sleep(1)
        assert "bridge" in degraded, f"`anbu status` never said the bridge was stuck:\n{text}"
        print(f"DEGRADED during the outage: {sorted(degraded)}\n{text}")

        # The test brings the broker back on the same data dir; nothing else is touched.
        rpc(data_dir).supervisor.startProcess("kafka", True)
        started = time.monotonic()
        host, _, port = settings.kafka.bootstrap_servers[0].rpartition(":")
        while not kafka_answers(host, int(port)):
            assert time.monotonic() - started < 300, "the broker did not come back"
            time.sleep(0.2)
        back = time.monotonic()
        recovered = _recovery_times(env, back, 300)
        print(f"broker answering {back - started:.1f} s after its start; components RUNNING "
              "again, s after that: "
              + ", ".join(f"{name} {at:.1f}" for name, at in sorted(recovered.items())))
        gateway.wait_published(120)
        _wait_running(env, 60)

        stop_beating.set()
        beater.join(10)
        # Every outcome is checked, and all that failed are reported together.
        failed: list[str] = []
        sent = gateway.seq
        found = _keys_in_kafka(settings, gateway_id, sent, 180)
        if found != sent:
            failed.append(f"{sent - found} of {sent} heartbeats not in Kafka")
        deadline = time.monotonic() + 120
        while hooks.kinds().count("sos") < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(10)  # a second notification would have come by now
        if hooks.kinds().count("sos") != 1:
            failed.append(f"SOS webhooks: {hooks.kinds().count('sos')} (all: {hooks.kinds()})")
        if "gateway_offline" in hooks.kinds():
            failed.append(f"false gateway_offline notified: {hooks.kinds()}")
        with sqlite3.connect(data_dir / "alerts.sqlite3") as db:
            alerts = db.execute(
                "SELECT kind FROM alerts WHERE household_id = ?", (household,)
            ).fetchall()
        kinds = [kind for (kind,) in alerts]
        if kinds.count("sos") != 1 or "gateway_offline" in kinds:
            failed.append(f"alerts of the household: {kinds}")
        tail = KafkaTail(settings, settings.kafka.topics.sos)
        try:
            soses = tail.wait_for(lambda records: bool(records), 30)
            if {SosEvent.from_json(v).household_id for _k, v in soses} != {household}:
                failed.append(f"{len(soses)} SOS records in Kafka")
        finally:
            tail.close()
        letters = KafkaTail(settings, settings.kafka.topics.deadletter)
        try:
            dead = letters.wait_for(lambda records: False, 5)  # read all there is
            if dead:
                failed.append(f"{len(dead)} dead letters, first: {dead[0][1][:300]!r}")
        finally:
            letters.close()
        print(f"heartbeats in Kafka: {found} of {sent} (acked before the kill: {acked:.0f}); "
              f"webhooks: {hooks.kinds()}; alerts: {kinds}")
        assert not failed, "\n".join(failed)
    finally:
        stop_beating.set()
        if gateway is not None:
            gateway.close()
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            up.kill()
        up_log.close()
        hooks.server.shutdown()
