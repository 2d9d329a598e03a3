"""Scaling the bridge down: a retired instance's share of the messages is not stranded.

Mosquitto hands each member of a shared subscription its share even while that member is
offline; ``anbu bridge --retire`` (``Bridge.retire``) drains that share and ends the session.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from anbu.events import EventBatch
from anbu.registry_records import GatewayRecord
from config import Settings
from ingest.bridge import Bridge
from testkit.kafka_tail import KafkaTail
from testkit.publishing import mqtt_publisher, publish_registry
from tests.kit.ingest import bridge_settings


def test_retired_bridge_forwards_its_queued_share_and_leaves_the_group(
    make_settings: Callable[..., Settings], unique: Any
) -> None:
    u = unique()
    settings = bridge_settings(make_settings, u, {"ingest.batch_linger": "10ms"})
    gateway = f"gw-{u}"
    publish_registry(
        settings, [GatewayRecord(gateway_id=gateway, household_id=f"hh-{u}", mqtt_username=u)]
    )

    def bridge(name: str) -> Bridge:
        return Bridge(settings, client_id=f"{name}-{u}", serve_metrics=False, write_influx=False)

    staying, leaving = bridge("stay"), bridge("leave")
    for instance in (staying, leaving):
        instance.start(registry_timeout_s=30)
        assert instance.subscribed.wait(15)
    leaving.stop()  # down, but its session keeps collecting its share

    def publish(first: int, count: int) -> None:
        with mqtt_publisher(settings) as client:
            for seq in range(first, first + count):
                payload = json.dumps({"type": "heartbeat", "seq": seq})
                client.publish(f"anbu/{gateway}/hb", payload, qos=1).wait_for_publish(10)

    publish(0, 40)
    retiring = bridge("leave")
    retiring.start(registry_timeout_s=30)
    assert retiring.retire(idle_s=1.0, timeout_s=60)
    assert retiring.metrics.acked > 0  # it had a share waiting, and forwarded it
    publish(40, 40)  # after retirement everything goes to the remaining bridge

    tail = KafkaTail(settings, settings.kafka.topics.events)

    def keys(records: list[tuple[bytes | None, bytes]]) -> set[str]:
        return {
            e.idempotency_key
            for _k, v in records
            for e in EventBatch.from_json(v).events
            if e.device_id == gateway
        }

    records = tail.wait_for(lambda r: len(keys(r)) >= 80, 30)
    tail.close()
    staying.stop()
    assert len(keys(records)) == 80
