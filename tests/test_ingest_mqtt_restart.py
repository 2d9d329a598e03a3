"""The bridge across a Mosquitto restart: it reconnects by itself, resubscribes, and every
message published before and after is in Kafka; its heartbeat says so while MQTT is away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anbu.events import EventBatch
from anbu.kafka_topics import ensure_topics
from anbu.registry_records import GatewayRecord
from config import Settings
from ingest.bridge import Bridge
from testkit.kafka_tail import KafkaTail
from testkit.polling import wait_for
from testkit.publishing import mqtt_publisher, publish_registry
from testkit.services import RunningService, running, settings_for, start_mosquitto

PER_ROUND = 500


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[RunningService]:
    """A Mosquitto of this test alone: restarting it must not disturb the session's."""
    spec, log_path = start_mosquitto(tmp_path / "mosquitto")
    with running(spec, log_path) as service:
        yield service


def _publish(settings: Settings, topic: str, first: int) -> None:
    with mqtt_publisher(settings) as client:
        infos = [
            client.publish(topic, f'{{"type":"heartbeat","seq":{i}}}'.encode(), qos=1)
            for i in range(first, first + PER_ROUND)
        ]
        for info in infos:
            info.wait_for_publish(30)


def test_bridge_reconnects_after_mosquitto_restarts(
    tmp_path: Path, own_mosquitto: RunningService, kafka: RunningService, unique: object
) -> None:
    u = unique()  # type: ignore[operator]
    settings = settings_for(
        tmp_path / "var", own_mosquitto, kafka, None,
        {"ingest.client_id": f"bridge-mqtt-{u}", "mqtt.shared_group": f"g{u}"},
    )
    ensure_topics(settings)
    gateway = f"gw-{u}"
    publish_registry(
        settings, [GatewayRecord(gateway_id=gateway, household_id=f"hh-{u}",
                                 mqtt_username=gateway)]
    )
    topic = f"anbu/{gateway}/heartbeat"
    bridge = Bridge(settings, serve_metrics=False, write_influx=False)
    bridge.start(registry_timeout_s=60)
    try:
        assert bridge.subscribed.wait(30)
        _publish(settings, topic, 0)
        wait_for(lambda: bridge.metrics.acked >= PER_ROUND, 60)
        assert bridge.health().problem is None  # positive control: connected, loaded

        own_mosquitto.stop()
        wait_for(lambda: not bridge.connected.is_set(), 30)
        away = bridge.health()
        assert away.problem == "not connected to MQTT", away

        own_mosquitto.restart()
        began = time.monotonic()
        assert bridge.subscribed.wait(60), "the bridge did not subscribe again"
        print(f"bridge subscribed again {time.monotonic() - began:.1f} s after Mosquitto")
        _publish(settings, topic, PER_ROUND)
        wait_for(lambda: bridge.metrics.acked >= 2 * PER_ROUND, 60)
        assert bridge.health().problem is None
    finally:
        bridge.stop()

    tail = KafkaTail(settings, settings.kafka.topics.events)
    keys: set[str] = set()

    def all_there(records: list[tuple[bytes | None, bytes]]) -> bool:
        keys.clear()
        for _key, value in records:
            keys.update(e.idempotency_key for e in EventBatch.from_json(value).events)
        return len(keys) >= 2 * PER_ROUND

    try:
        tail.wait_for(all_there, 60)
    finally:
        tail.close()
    assert len(keys) == 2 * PER_ROUND
