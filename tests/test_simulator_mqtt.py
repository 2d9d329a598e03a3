"""The simulator publishes over a real Mosquitto in the devices' native formats."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from anbu.events import SourceFormat
from config import Settings
from ingest.adapters import ADAPTERS
from ingest.readings import Owner
from simulator.demo import device_index
from simulator.model import SimDevice
from simulator.plan import NO_INCIDENTS
from simulator.publish import connect, publish
from simulator.resident import SimOptions
from simulator.world import Simulation, SimulationConfig
from testkit.polling import wait_for
from testkit.services import SERVICE_USER, RunningService


def _owner_of(topic: str, devices: list[SimDevice]) -> SimDevice:
    """The device whose base topic is the longest prefix of ``topic`` on level boundaries."""
    best = None
    for device in devices:
        base = device.mqtt_topic
        if topic == base or topic.startswith(base + "/"):
            if best is None or len(base) > len(best.mqtt_topic):
                best = device
    assert best is not None, topic
    return best


def _with_owners(
    published: tuple[Simulation, list[tuple[str, bytes]], int],
) -> Iterator[tuple[str, bytes, SimDevice, str]]:
    """Each received message with the device that owns its topic, and the topic after it."""
    sim, received, _ = published
    devices = [d for h in sim.households for d in h.devices]
    for topic, payload in received:
        device = _owner_of(topic, devices)
        yield topic, payload, device, topic[len(device.mqtt_topic) :].lstrip("/")


def _subscribe(port: int, prefix: str, received: list[tuple[str, bytes]]) -> mqtt.Client:
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-test-sub-{prefix}")
    client.username_pw_set(*SERVICE_USER)

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        for pattern in ("zigbee2mqtt/#", "tele/#", "shellies/#", "+/status/#", "anbu/#"):
            c.subscribe(pattern, qos=1)
        ready.set()

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, msg: received.append((msg.topic, bytes(msg.payload)))
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert ready.wait(10)
    time.sleep(0.3)  # let the SUBACKs arrive
    return client


@pytest.fixture(scope="module")
def published(
    mosquitto: RunningService, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Simulation, list[tuple[str, bytes]], int]:
    from testkit.services import settings_for

    settings: Settings = settings_for(tmp_path_factory.mktemp("sim-mqtt"), mosquitto, None, None)
    # Enough households that every plug vendor appears; one day, as fast as possible.
    sim = Simulation(
        SimulationConfig(
            households=12, days=1, seed=21, rates=NO_INCIDENTS, options=SimOptions(heartbeat_s=600)
        )
    )
    received: list[tuple[str, bytes]] = []
    subscriber = _subscribe(mosquitto.port, "a", received)
    client = connect(settings, "sim-test-pub")
    try:
        stats = publish(client, sim.events(), device_index(sim), sim_start=sim.start_epoch, speed=0)
    finally:
        client.loop_stop()
        client.disconnect()
    with contextlib.suppress(TimeoutError):  # test_every_message_arrives says what is missing
        wait_for(lambda: len(received) >= stats.messages, step_s=0.05)
    subscriber.loop_stop()
    subscriber.disconnect()
    return sim, received, stats.messages


def test_every_message_arrives(published: tuple[Simulation, list[tuple[str, bytes]], int]) -> None:
    _sim, received, sent = published
    assert sent > 1000
    assert len(received) == sent


def test_payloads_are_in_native_formats(
    published: tuple[Simulation, list[tuple[str, bytes]], int],
) -> None:
    seen: Counter[str] = Counter()
    for topic, payload, device, suffix in _with_owners(published):
        if device.source_format is SourceFormat.ZIGBEE2MQTT:
            assert suffix == ""
            body = json.loads(payload)
            assert 0 <= body["linkquality"] <= 255
            if device.kind == "motion":
                assert isinstance(body.get("occupancy", False), bool)
                assert 0 <= body["battery"] <= 100
            if device.kind == "door" and "contact" in body:
                assert isinstance(body["contact"], bool)
            if device.kind == "plug":
                assert body["state"] == "ON" and body["power"] >= 0 and body["energy"] >= 0
            seen["zigbee2mqtt-" + device.kind] += 1
        elif device.source_format is SourceFormat.TASMOTA:
            assert suffix == "SENSOR"
            body = json.loads(payload)
            assert body["ENERGY"]["Power"] >= 0 and body["ENERGY"]["Total"] >= 0
            assert datetime.fromisoformat(body["Time"]).tzinfo is None  # as Tasmota sends it
            seen["tasmota"] += 1
        elif device.source_format is SourceFormat.SHELLY and topic.startswith("shellies/"):
            assert suffix in ("relay/0/power", "relay/0/energy")
            float(payload.decode())
            seen["shelly-gen1"] += 1
        elif device.source_format is SourceFormat.SHELLY:
            assert suffix == "status/switch:0"
            body = json.loads(payload)
            assert body["apower"] >= 0 and body["aenergy"]["total"] >= 0
            seen["shelly-gen2"] += 1
        else:
            body = json.loads(payload)
            assert body["type"] in ("heartbeat", "interaction", "sos", "checkin_answer")
            assert datetime.fromisoformat(body["ts"]).tzinfo is not None
            seen["anbu-" + body["type"]] += 1
    for kind in (
        "zigbee2mqtt-motion",
        "zigbee2mqtt-door",
        "zigbee2mqtt-presence",
        "zigbee2mqtt-plug",
        "tasmota",
        "shelly-gen1",
        "shelly-gen2",
        "anbu-heartbeat",
        "anbu-interaction",
    ):
        assert seen[kind] > 0, (kind, seen)


def test_payloads_parse_with_the_bridges_adapters(
    published: tuple[Simulation, list[tuple[str, bytes]], int],
) -> None:
    kinds: Counter[str] = Counter()
    for _topic, payload, device, suffix in _with_owners(published):
        owner = Owner(
            device.device_id,
            device.household_id,
            None,
            device.kind,
            device.source_format,
            device.mqtt_topic,
        )
        parsed = ADAPTERS[device.source_format](suffix, payload, owner)
        for item in parsed.items:
            kinds[str(getattr(item, "kind", "sos"))] += 1
    for kind in ("motion", "door", "presence", "power", "battery", "heartbeat", "robot"):
        assert kinds[kind] > 0, kinds


def test_residents_answer_checkins_unless_collapsed(
    mosquitto: RunningService, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from ingest.anbu_format import CheckinAnswer, CheckinRequest, command_topic
    from simulator.checkin import CheckinResponder
    from testkit.services import settings_for

    settings = settings_for(tmp_path_factory.mktemp("checkin"), mosquitto, None, None)
    sim = Simulation(SimulationConfig(households=2, days=None, seed=3))
    collapsed, fine = sim.members
    collapsed.plan.collapse_at = sim.start_epoch - 60
    fine.plan.collapse_at = None
    received: list[tuple[str, bytes]] = []
    subscriber = _subscribe(mosquitto.port, "checkin", received)
    client = connect(settings, "sim-test-robots")
    responder = CheckinResponder(client, sim, lambda: sim.start_epoch, delay_s=(0.1, 0.3))
    responder.start()
    time.sleep(0.3)
    try:
        for member in (collapsed, fine):
            base = member.household.device("robot").mqtt_topic
            request = CheckinRequest(
                request_id=f"req-{member.household.household_id}",
                text_ko="괜찮으세요?",
                text_en="Are you all right?",
            )
            subscriber.publish(command_topic(base), request.to_json(), qos=1)
        wait_for(lambda: responder.answered >= 1, 10, step_s=0.05)
        time.sleep(1.0)  # a second answer, if one were coming, would be here by now
    finally:
        client.loop_stop()
        client.disconnect()
        subscriber.loop_stop()
        subscriber.disconnect()
    answers = [
        CheckinAnswer.model_validate_json(payload)
        for topic, payload in received
        if not topic.endswith("/command") and b"checkin_answer" in payload
    ]
    assert [a.request_id for a in answers] == [f"req-{fine.household.household_id}"]
    assert answers[0].ok
