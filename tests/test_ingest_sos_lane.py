"""The bridge's SOS lane on real Mosquitto and Kafka: it follows the registry, and the two
lanes' copies of an SOS make one record."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from anbu.events import SosEvent, SourceFormat
from anbu.registry_records import DeviceRecord, GatewayRecord
from anbu.stack.services import free_port
from config import Settings
from ingest.bridge import Bridge
from ingest.sos_lane import wait_subscribed
from testkit.kafka_tail import KafkaTail
from testkit.publishing import mqtt_publisher, publish_registry
from tests.kit.ingest import bridge_settings


def test_the_lane_follows_the_registry_and_each_sos_is_one_record(
    make_settings: Callable[..., Settings], unique: Any
) -> None:
    u = unique()
    settings = bridge_settings(make_settings, u, {"ingest.metrics_port": free_port()})
    first, late = f"gw-{u}-a", f"gw-{u}-b"
    publish_registry(
        settings, [GatewayRecord(gateway_id=first, household_id=f"hh-{u}-a", mqtt_username=first)]
    )
    bridge = Bridge(settings, client_id=f"bridge-lane-{u}", serve_metrics=False, write_influx=False)
    bridge.start(registry_timeout_s=30)
    tail = KafkaTail(settings, settings.kafka.topics.sos)
    try:
        assert bridge.subscribed.wait(15)
        assert wait_subscribed(bridge.lane, {f"anbu/{first}/#"}), bridge.lane.filters
        button = DeviceRecord(
            device_id=f"button-{u}",
            household_id=f"hh-{u}-b",
            gateway_id=late,
            kind="button",
            source_format=SourceFormat.ZIGBEE2MQTT,
            mqtt_topic=f"zigbee2mqtt/{u}_button",
        )
        # Registered while the bridge runs: the lane subscribes to them.
        publish_registry(
            settings,
            [GatewayRecord(gateway_id=late, household_id=f"hh-{u}-b", mqtt_username=late), button],
        )
        wanted = {f"anbu/{late}/#", f"zigbee2mqtt/{u}_button/#"}
        assert wait_subscribed(bridge.lane, wanted), bridge.lane.filters
        with mqtt_publisher(settings) as client:
            client.publish(f"anbu/{late}/button", b'{"type":"sos","seq":1}', qos=1)
            client.publish(f"zigbee2mqtt/{u}_button", b'{"action":"single"}', qos=1)
            client.publish(f"anbu/{late}/heartbeat", b'{"type":"heartbeat","seq":1}', qos=1)
            client.publish(f"anbu/{first}/robot", b'{"type":"fall"}', qos=1).wait_for_publish(10)
        tail.wait_for(lambda records: len(records) >= 3, 20)
        deadline = time.monotonic() + 10
        while bridge.metrics.acked < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # time for a second record of any SOS (there must be none)
        tail.poll()
        calls = sorted((s.device_id, s.cause.value) for s in map(_sos, tail.records))
        assert calls == sorted([(late, "button"), (first, "fall"), (f"button-{u}", "button")])
        # The lane saw all four (the heartbeat acknowledged at once, not sent) and sent
        # whichever SOS it read before the main lane did.
        assert bridge.lane.received == 4
        assert 0 <= bridge.lane.sent <= 3
        # Retired: the lane lets go of the button's topic and keeps the rest.
        publish_registry(settings, [button.model_copy(update={"retired": True})])
        deadline = time.monotonic() + 10
        while f"zigbee2mqtt/{u}_button/#" in bridge.lane.filters and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bridge.lane.filters == {f"anbu/{first}/#", f"anbu/{late}/#"}
    finally:
        tail.close()
        bridge.stop()


def _sos(record: tuple[bytes | None, bytes]) -> SosEvent:
    return SosEvent.from_json(record[1])
