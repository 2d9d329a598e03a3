"""At least once across a crash: SIGKILL the bridge with 10,000 QoS 1 messages in flight,
restart it, and find every message in Kafka (counted by idempotency key)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anbu.events import EventBatch
from anbu.registry_records import GatewayRecord
from anbu.stack.services import free_port
from config import Settings
from testkit import processes
from testkit.kafka_tail import KafkaTail
from testkit.publishing import mqtt_publisher, publish_registry
from tests.kit.ingest import bridge_settings

MESSAGES = 10_000
REPO = Path(__file__).resolve().parent.parent


def bridge_env(settings: Settings) -> dict[str, str]:
    """Environment giving a child ``anbu bridge`` exactly these settings."""
    topics = settings.kafka.topics
    env = {
        "ANBU_STACK__DATA_DIR": str(settings.data_dir),
        "ANBU_MQTT__HOST": settings.mqtt.host,
        "ANBU_MQTT__PORT": str(settings.mqtt.port),
        "ANBU_MQTT__USERNAME": settings.mqtt.username,
        "ANBU_MQTT__PASSWORD": settings.mqtt_password(),
        "ANBU_MQTT__SHARED_GROUP": settings.mqtt.shared_group,
        "ANBU_KAFKA__BOOTSTRAP_SERVERS": ",".join(settings.kafka.bootstrap_servers),
        "ANBU_INFLUX__URL": settings.influx.url,
        "ANBU_INFLUX__DATABASE": settings.influx.database,
        "ANBU_INGEST__METRICS_PORT": str(settings.ingest.metrics_port),
        "ANBU_INGEST__CLIENT_ID": settings.ingest.client_id or "",
    }
    for name in ("events", "sos", "deadletter", "registry", "alerts"):
        env[f"ANBU_KAFKA__TOPICS__{name.upper()}"] = getattr(topics, name)
    return env


class BridgeProcess:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
        env.update(bridge_env(self.settings))
        self.process = processes.spawn(
            [sys.executable, "-m", "anbu", "bridge"], self.log_path, env=env, cwd=REPO
        )

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.settings.ingest.metrics_port}/metrics"
        for line in httpx.get(url, timeout=5).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def wait_metric(self, name: str, at_least: float, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        value = -1.0
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                value = self.metric(name)
            except (httpx.HTTPError, KeyError):
                value = -1.0
            if value >= at_least:
                return value
            time.sleep(0.05)
        raise AssertionError(f"{name} stayed at {value}\n{self.log()}")

    def kill(self) -> None:
        assert self.process is not None
        processes.kill(self.process)

    def stop(self) -> int | None:
        """SIGTERM it (SIGKILL after 30 s); its exit status (None: never started)."""
        if self.process is None:
            return None
        processes.stop(self.process, timeout_s=30)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def kill_rig(
    make_settings: Callable[..., Settings], unique: Any, tmp_path: Path
) -> Iterator[tuple[Settings, BridgeProcess]]:
    u = unique()
    settings = bridge_settings(
        make_settings,
        u,
        {"ingest.client_id": f"bridge-kill-{u}", "ingest.metrics_port": free_port()},
    )
    publish_registry(
        settings,
        [GatewayRecord(gateway_id=f"gw-{u}", household_id=f"hh-{u}", mqtt_username=f"gw-{u}")],
    )
    bridge = BridgeProcess(settings, tmp_path / "bridge.log")
    yield settings, bridge
    bridge.stop()


@pytest.mark.slow
def test_sigkill_with_messages_in_flight_loses_nothing(
    kill_rig: tuple[Settings, BridgeProcess],
) -> None:
    settings, bridge = kill_rig
    gateway = next(iter(_gateway_ids(settings)))
    topic = f"anbu/{gateway}/heartbeat"
    bridge.start()
    # The bridge has subscribed once its persistent session exists: a probe gets through.
    with mqtt_publisher(settings) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            client.publish(topic, b'{"type":"heartbeat","uptime_s":1}', qos=1).wait_for_publish(10)
            try:
                bridge.wait_metric("anbu_ingest_acked_total", 1, 1.0)
                break
            except AssertionError:
                continue

    published = threading.Event()

    def publish_all() -> None:
        with mqtt_publisher(settings) as client:
            infos = [
                client.publish(topic, f'{{"type":"heartbeat","seq":{i}}}'.encode(), qos=1)
                for i in range(MESSAGES)
            ]
            for info in infos:
                info.wait_for_publish(60)
        published.set()

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    acked_at_kill = bridge.wait_metric("anbu_ingest_acked_total", 1500, 60)
    bridge.kill()
    assert acked_at_kill < MESSAGES, "the bridge was killed after it had finished"
    publisher.join(120)
    assert published.is_set(), "the broker did not take every message"

    bridge.start()
    tail = KafkaTail(settings, settings.kafka.topics.events)
    keys: set[str] = set()
    total = 0

    def all_there(records: list[tuple[bytes | None, bytes]]) -> bool:
        nonlocal total
        keys.clear()
        total = 0
        for _key, value in records:
            for event in EventBatch.from_json(value).events:
                if event.device_id == gateway and event.kind == "heartbeat":
                    keys.add(event.idempotency_key)
                    total += 1
        return len(keys) >= MESSAGES + 1  # the probe too

    tail.wait_for(all_there, 90)
    tail.close()
    assert len(keys) == MESSAGES + 1, f"{len(keys)} distinct of {MESSAGES + 1}\n{bridge.log()}"
    print(
        f"acked before kill: {acked_at_kill:.0f}; records in Kafka: {total}; "
        f"duplicates from redelivery: {total - len(keys)}"
    )
    assert bridge.stop() == 0, bridge.log()


def _gateway_ids(settings: Settings) -> set[str]:
    return {f"gw-{settings.mqtt.shared_group[1:]}"}
