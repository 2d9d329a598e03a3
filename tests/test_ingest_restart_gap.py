"""Nothing lost in the gap after a Mosquitto restart (issue #14): a message published after
Mosquitto is back and before the bridge has reconnected is queued in the bridge's restored
session, so an SOS reaches ``anbu.sos`` and telemetry ``anbu.events``.

Mosquitto 2.0.11 restores a persistent session's plain subscriptions from its persistence
file but not its shared (``$share/...``) ones: the SOS lane always subscribes plainly, the
main lane does with ``mqtt.shared_group`` empty (one bridge)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from anbu.events import EventBatch, SosEvent
from anbu.kafka_topics import ensure_topics
from anbu.registry_records import GatewayRecord
from anbu.timeutil import utcnow
from config import Settings
from ingest.bridge import Bridge
from ingest.sos_lane import wait_subscribed
from testkit.kafka_tail import KafkaTail
from testkit.polling import wait_for
from testkit.publishing import mqtt_publisher, publish_registry
from testkit.services import RunningService, running, settings_for, start_mosquitto

ATTEMPTS = 3
"""Restarts to try for one where the publish beats the bridge's reconnect (its backoff is
at least 1 s, so the first try almost always does)."""


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[RunningService]:
    """A Mosquitto of this test alone: restarting it must not disturb the session's."""
    spec, log_path = start_mosquitto(tmp_path / "mosquitto")
    with running(spec, log_path) as service:
        yield service


def _publish(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    with mqtt_publisher(settings) as client:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(10)  # PUBACK: Mosquitto has taken charge of it


def _restart_and_publish(
    mosquitto: RunningService, bridge: Bridge, settings: Settings, gateway: str, seq: int
) -> datetime | None:
    """Restart Mosquitto and publish an SOS and a heartbeat at once.

    Returns:
        When they were published, if both were acknowledged before either of the bridge's
        sessions was connected again; None if the bridge won the race.
    """
    mosquitto.stop()
    wait_for(lambda: not bridge.connected.is_set() and not bridge.lane.connected.is_set(), 30,
             step_s=0.05)
    time.sleep(2.0)  # the reconnect backoff grows past 1 s
    mosquitto.restart()  # returns as soon as the port accepts
    published = utcnow()
    _publish(
        settings,
        [
            (f"anbu/{gateway}/button", f'{{"type":"sos","seq":{seq}}}'.encode()),
            (f"anbu/{gateway}/heartbeat", f'{{"type":"heartbeat","seq":{seq}}}'.encode()),
        ],
    )
    in_gap = not bridge.connected.is_set() and not bridge.lane.connected.is_set()
    return published if in_gap else None


@pytest.mark.parametrize("group", ["", "shared"])
def test_messages_published_before_the_bridge_reconnects_are_not_lost(
    tmp_path: Path, own_mosquitto: RunningService, kafka: RunningService, unique: Any, group: str
) -> None:
    u = unique()
    settings = settings_for(
        tmp_path / "var", own_mosquitto, kafka, None,
        {"ingest.client_id": f"bridge-gap-{u}", "mqtt.shared_group": group and f"g{u}"},
    )
    ensure_topics(settings)
    gateway, household = f"gw-{u}", f"hh-{u}"
    publish_registry(
        settings, [GatewayRecord(gateway_id=gateway, household_id=household,
                                 mqtt_username=gateway)]
    )
    sos_tail = KafkaTail(settings, settings.kafka.topics.sos)
    events_tail = KafkaTail(settings, settings.kafka.topics.events)
    bridge = Bridge(settings, serve_metrics=False, write_influx=False)
    bridge.start(registry_timeout_s=60)
    sos_times: list[datetime] = []
    event_times: list[datetime] = []

    def sos_read(records: list[tuple[bytes | None, bytes]]) -> bool:
        sos = [SosEvent.from_json(value) for _key, value in records]
        sos_times[:] = [s.receive_time for s in sos if s.household_id == household]
        return bool(sos_times) and max(sos_times) >= after

    def events_read(records: list[tuple[bytes | None, bytes]]) -> bool:
        event_times[:] = [
            e.receive_time
            for _key, value in records
            for e in EventBatch.from_json(value).events
            if e.household_id == household
        ]
        return bool(event_times) and max(event_times) >= after

    try:
        assert bridge.subscribed.wait(30)
        assert wait_subscribed(bridge.lane, {f"anbu/{gateway}/#"}), bridge.lane.filters
        # Positive control: with both sessions connected an SOS and a heartbeat get through.
        after = utcnow()
        _publish(
            settings,
            [
                (f"anbu/{gateway}/button", b'{"type":"sos","seq":0}'),
                (f"anbu/{gateway}/heartbeat", b'{"type":"heartbeat","seq":0}'),
            ],
        )
        sos_tail.wait_for(sos_read, 20)
        events_tail.wait_for(events_read, 20)
        assert len(sos_times) == 1 and len(event_times) == 1, (sos_times, event_times)

        gap = None
        for seq in range(1, ATTEMPTS + 1):
            gap = _restart_and_publish(own_mosquitto, bridge, settings, gateway, seq)
            if gap is not None:
                break
        assert gap is not None, "the bridge reconnected before every publish"
        after = gap
        began = time.monotonic()
        sos_tail.wait_for(sos_read, 15)
        assert max(sos_times) >= gap, "the SOS published before the bridge reconnected was lost"
        print(f"SOS from the gap in anbu.sos {time.monotonic() - began:.1f} s after its PUBACK")
        if group == "":
            # The main lane's plain subscription was restored as well.
            events_tail.wait_for(events_read, 10)
            assert max(event_times) >= gap, "the heartbeat published in the gap was lost"
    finally:
        sos_tail.close()
        events_tail.close()
        bridge.stop()
