"""Documented sample payloads of every source format, through real Mosquitto and Kafka.

Each test publishes payloads shaped exactly as the format's public documentation shows them
(page cited above each group), to topics registered in the registry topic, through the real
bridge, and reads the normalised records back from Kafka.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from anbu.events import DeadLetter, DeviceEvent, EventBatch, SosEvent
from anbu.influx import InfluxClient
from anbu.kafka_topics import ensure_topics
from anbu.registry_records import DeviceRecord, GatewayRecord, HouseholdRecord
from anbu.stack.services import free_port
from anbu.timeutil import utcnow
from config import Settings
from ingest.anbu_format import CheckinRequest, command_topic
from ingest.bridge import Bridge
from testkit.kafka_tail import KafkaTail
from testkit.polling import wait_for
from testkit.publishing import mqtt_publisher, publish_registry
from testkit.services import RunningService, settings_for

HH = "hh-fmt-1"
GW = "gw-fmt-1"


@dataclass
class Rig:
    settings: Settings
    bridge: Bridge
    root: str  # unique first-level-ish prefix so other tests' messages never collide

    def topic(self, base: str) -> str:
        return base.replace("{u}", self.root)


def _device(u: str, ident: str, kind: str, fmt: str, topic: str) -> DeviceRecord:
    """A device of HH under GW; ``{u}`` in its topic is ``u``."""
    return DeviceRecord(
        device_id=f"{ident}-{u}",
        household_id=HH,
        gateway_id=GW,
        kind=kind,  # type: ignore[arg-type]
        source_format=fmt,  # type: ignore[arg-type]
        mqtt_topic=topic.replace("{u}", u),
    )


def _registered_while_running(
    rig: Rig, ident: str, kind: str, fmt: str, topic: str, owned: str = ""
) -> DeviceRecord:
    """A device published on the registry topic while the bridge runs; returned once the
    bridge's cache owns its topic (with ``owned`` appended)."""
    device = _device(rig.root, ident, kind, fmt, topic)
    publish_registry(rig.settings, [device])
    wait_for(
        lambda: rig.bridge.cache.owner_of(device.mqtt_topic + owned) is not None,
        timeout_s=20,
        what="the device registered",
    )
    return device


def _devices(u: str) -> list[DeviceRecord]:
    def dev(ident: str, kind: str, fmt: str, topic: str) -> DeviceRecord:
        return _device(u, ident, kind, fmt, topic)

    return [
        dev("z-motion", "motion", "zigbee2mqtt", "zigbee2mqtt/{u}_hall_motion"),
        dev("z-door", "door", "zigbee2mqtt", "zigbee2mqtt/{u}_entrance"),
        dev("z-plug", "plug", "zigbee2mqtt", "zigbee2mqtt/{u}_kettle"),
        dev("z-button", "button", "zigbee2mqtt", "zigbee2mqtt/{u}_sos_button"),
        dev("z-bed", "presence", "zigbee2mqtt", "zigbee2mqtt/{u}_bed"),
        dev("t-plug", "plug", "tasmota", "tele/{u}_tasmota_5D3A1C"),
        dev("s1-plug", "plug", "shelly", "shellies/shellyplug-s-{u}"),
        dev("s1-door", "contact", "shelly", "shellies/shellydw2-{u}"),
        dev("s2-plug", "plug", "shelly", "shellyplus1pm-{u}"),
        dev("robot", "robot", "anbu", "anbu/" + GW + "/robot-{u}"),
        dev("sim", "other", "simulator", "anbu/" + GW + "/sim-{u}"),
    ]


@pytest.fixture(scope="module")
def rig(
    tmp_path_factory: pytest.TempPathFactory,
    mosquitto: RunningService,
    kafka: RunningService,
    influxdb: RunningService,
) -> Iterator[Rig]:
    u = uuid.uuid4().hex[:8]
    settings = settings_for(
        tmp_path_factory.mktemp("ingest-formats") / "var",
        mosquitto,
        kafka,
        influxdb,
        {
            "mqtt.shared_group": f"g{u}",
            "ingest.metrics_port": free_port(),
            "ingest.metrics_flush": "0.5s",
            "ingest.device_time_window": "5m",
        },
    )
    ensure_topics(settings)
    publish_registry(
        settings,
        [
            HouseholdRecord(household_id=HH, care_center_id="cc-1", dong="dong-1"),
            GatewayRecord(gateway_id=GW, household_id=HH, mqtt_username=GW),
            *_devices(u),
        ],
    )
    bridge = Bridge(settings, client_id=f"bridge-fmt-{u}")
    bridge.start(registry_timeout_s=30)
    assert bridge.subscribed.wait(15), "bridge did not subscribe"
    yield Rig(settings, bridge, u)
    bridge.stop()


def publish(rig: Rig, messages: list[tuple[str, bytes | str]]) -> None:
    with mqtt_publisher(rig.settings) as client:
        for topic, payload in messages:
            data = payload.encode() if isinstance(payload, str) else payload
            client.publish(rig.topic(topic), data, qos=1).wait_for_publish(10)


def events_of(
    rig: Rig,
    device: str,
    count: int,
    timeout_s: float = 20,
    where: Callable[[DeviceEvent], bool] = lambda _e: True,
) -> list[DeviceEvent]:
    """The events of ``device`` (matching ``where``) on anbu.events, once ``count`` arrived."""
    device_id = f"{device}-{rig.root}"
    tail = KafkaTail(rig.settings, rig.settings.kafka.topics.events)
    found: list[DeviceEvent] = []

    def done(records: list[tuple[bytes | None, bytes]]) -> bool:
        found.clear()
        for key, value in records:
            batch = EventBatch.from_json(value)
            if batch.household_id is not None:  # one household: named, and the record's key
                assert key == batch.household_id.encode()
            found.extend(e for e in batch.events if e.device_id == device_id and where(e))
        return len(found) >= count

    tail.wait_for(done, timeout_s)
    tail.close()
    return list(found)


def sos_of(rig: Rig, device: str, count: int, timeout_s: float = 20) -> list[SosEvent]:
    device_id = f"{device}-{rig.root}"
    tail = KafkaTail(rig.settings, rig.settings.kafka.topics.sos)

    def mine(records: list[tuple[bytes | None, bytes]]) -> list[SosEvent]:
        parsed = [SosEvent.from_json(value) for _key, value in records]
        return [s for s in parsed if s.device_id == device_id]

    records = tail.wait_for(lambda r: len(mine(r)) >= count, timeout_s)
    tail.close()
    return mine(records)


def dead_letters(rig: Rig, topic_part: str, count: int, timeout_s: float = 20) -> list[DeadLetter]:
    tail = KafkaTail(rig.settings, rig.settings.kafka.topics.deadletter)

    def mine(records: list[tuple[bytes | None, bytes]]) -> list[DeadLetter]:
        parsed = [DeadLetter.from_json(value) for _key, value in records]
        return [d for d in parsed if topic_part in d.topic]

    records = tail.wait_for(lambda r: len(mine(r)) >= count, timeout_s)
    tail.close()
    return mine(records)


def values(events: list[DeviceEvent]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for event in events:
        out.setdefault(event.kind.value, []).append(event.value)
    return out


# Zigbee2MQTT device pages, "Exposes" sections, and the availability guide:
#   https://www.zigbee2mqtt.io/devices/RTCGQ11LM.html (Aqara motion: occupancy, illuminance_lux)
#   https://www.zigbee2mqtt.io/devices/MCCGQ11LM.html (Aqara door: contact, true = closed)
#   https://www.zigbee2mqtt.io/devices/TS011F_plug_1.html (plug: state, power, energy)
#   https://www.zigbee2mqtt.io/devices/WXKG11LM.html (Aqara button: action single/double/hold)
#   https://www.zigbee2mqtt.io/devices/TS0601_smart_human_presence_sensor.html (presence)
#   https://www.zigbee2mqtt.io/guide/configuration/device-availability.html
#     (zigbee2mqtt/<name>/availability, payload {"state":"online"} / {"state":"offline"})
def test_zigbee2mqtt_documented_payloads_become_events(rig: Rig) -> None:
    publish(
        rig,
        [
            (
                "zigbee2mqtt/{u}_hall_motion",
                '{"battery":100,"illuminance":49,"illuminance_lux":49,"linkquality":18,'
                '"occupancy":true,"voltage":3005}',
            ),
            (
                "zigbee2mqtt/{u}_entrance",
                '{"battery":91,"contact":true,"linkquality":60,"voltage":3055}',
            ),
            (
                "zigbee2mqtt/{u}_entrance",
                '{"battery":91,"contact":false,"linkquality":57,"voltage":3055}',
            ),
            (
                "zigbee2mqtt/{u}_kettle",
                '{"current":0,"energy":1.54,"linkquality":63,"power":0,"state":"ON","voltage":239}',
            ),
            ("zigbee2mqtt/{u}_bed", '{"presence":true,"linkquality":120}'),
            ("zigbee2mqtt/{u}_hall_motion/availability", '{"state":"offline"}'),
        ],
    )
    motion = values(events_of(rig, "z-motion", 4))
    assert motion == {
        "motion": [1.0],
        "battery": [100.0],
        "linkquality": [18.0],
        "availability": [0.0],
    }
    door = events_of(rig, "z-door", 6)
    # contact true means the magnet is near: the door is CLOSED (0); false: OPEN (1).
    assert [e.value for e in door if e.kind == "door"] == [0.0, 1.0]
    kettle = values(events_of(rig, "z-plug", 4))
    assert kettle == {"switch": [1.0], "power": [0.0], "energy": [1.54], "linkquality": [63.0]}
    assert values(events_of(rig, "z-bed", 2))["presence"] == [1.0]


def test_zigbee2mqtt_button_press_is_an_sos_at_once(rig: Rig) -> None:
    publish(
        rig,
        [
            (
                "zigbee2mqtt/{u}_sos_button",
                '{"action":"single","battery":100,"linkquality":34,"voltage":3025}',
            )
        ],
    )
    (sos,) = sos_of(rig, "z-button", 1)
    assert sos.cause == "button"
    assert sos.household_id == HH
    assert sos.detail == "single"
    # The telemetry of the same message still goes to anbu.events.
    assert values(events_of(rig, "z-button", 2)) == {"battery": [100.0], "linkquality": [34.0]}


# Tasmota: https://tasmota.github.io/docs/MQTT/ (tele/<topic>/LWT Online/Offline, tele/STATE,
# tele/SENSOR) and the tele/<topic>/SENSOR ENERGY message as shown in
# https://blog.mylocalbytes.com/kb/2022-01-10/LB-PM-Power-Monitoring (linked from Tasmota's
# power monitoring docs).
def test_tasmota_documented_payloads_become_events(rig: Rig) -> None:
    publish(
        rig,
        [
            (
                "tele/{u}_tasmota_5D3A1C/SENSOR",
                '{"Time":"2022-01-11T21:57:38","ENERGY":{"TotalStartTime":"2020-10-21T22:15:00",'
                '"Total":3.705,"Yesterday":0.028,"Today":0.026,"Period":1,"Power":5,'
                '"ApparentPower":5,"ReactivePower":0,"Factor":1.00,"Voltage":233,"Current":0.021}}',
            ),
            ("tele/{u}_tasmota_5D3A1C/LWT", "Online"),
            (
                "tele/{u}_tasmota_5D3A1C/STATE",
                '{"Time":"2019-11-03T19:34:58","Uptime":"0T00:00:30","UptimeSec":30,"Heap":29,'
                '"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"ON",'
                '"Wifi":{"AP":1,"SSId":"home","RSSI":100,"Signal":-47,"LinkCount":1}}',
            ),
            ("tele/{u}_tasmota_5D3A1C/LWT", "Offline"),
        ],
    )
    events = events_of(rig, "t-plug", 5)
    assert values(events) == {
        "power": [5.0],
        "energy": [3.705],
        "availability": [1.0, 0.0],
        "switch": [1.0],
    }
    # Tasmota's Time has no UTC offset: it is not trusted, the receive time is used.
    assert all(abs(e.event_time - e.receive_time) == timedelta(0) for e in events)


# Shelly Gen1 MQTT: https://shelly-api-docs.shelly.cloud/gen1/#shelly-plug-plugs-mqtt
#   (relay/0 on/off, relay/0/power in W, relay/0/energy in watt-minutes, online true/false)
#   https://shelly-api-docs.shelly.cloud/gen1/#shelly-door-window-1-2-mqtt (sensor/state)
# Shelly Gen2: https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Switch (status
#   with apower, aenergy.total in Wh) and .../gen2/ComponentsAndServices/Mqtt (<prefix>/online)
def test_shelly_documented_payloads_become_events(rig: Rig) -> None:
    publish(
        rig,
        [
            ("shellies/shellyplug-s-{u}/relay/0/power", "49.55"),
            ("shellies/shellyplug-s-{u}/relay/0/energy", "3512"),
            ("shellies/shellyplug-s-{u}/relay/0", "on"),
            ("shellies/shellyplug-s-{u}/online", "false"),
            ("shellies/shellydw2-{u}/sensor/state", "open"),
            (
                "shellyplus1pm-{u}/status/switch:0",
                '{"id":0,"source":"init","output":true,"apower":8.9,"voltage":237.5,'
                '"current":0.068,"aenergy":{"total":6.532,"by_minute":[45.199,47.141,88.397],'
                '"minute_ts":1654511972},"temperature":{"tC":23.5,"tF":74.4}}',
            ),
            ("shellyplus1pm-{u}/online", "true"),
        ],
    )
    gen1 = values(events_of(rig, "s1-plug", 4))
    assert gen1["power"] == [49.55]
    assert gen1["energy"] == [pytest.approx(3512 / 60_000)]  # watt-minutes to kWh
    assert gen1["switch"] == [1.0] and gen1["availability"] == [0.0]
    assert values(events_of(rig, "s1-door", 1)) == {"contact": [1.0]}
    gen2 = values(events_of(rig, "s2-plug", 4))
    assert gen2 == {
        "switch": [1.0],
        "power": [8.9],
        "energy": [pytest.approx(0.006532)],
        "availability": [1.0],
    }


# anbu's own format, documented in docs/ingest.md.
def test_anbu_gateway_and_robot_messages(rig: Rig) -> None:
    now = utcnow()
    publish(
        rig,
        [
            ("anbu/" + GW + "/heartbeat", json.dumps({"type": "heartbeat", "seq": 7})),
            (
                "anbu/" + GW + "/robot-{u}",
                json.dumps(
                    {
                        "type": "interaction",
                        "interaction": "medication_taken",
                        "ts": now.isoformat(),
                    }
                ),
            ),
            (
                "anbu/" + GW + "/robot-{u}",
                json.dumps({"type": "checkin_answer", "request_id": f"req-{rig.root}", "ok": True}),
            ),
            ("anbu/" + GW + "/robot-{u}", json.dumps({"type": "sos", "detail": "살려주세요"})),
            ("anbu/" + GW + "/robot-{u}", json.dumps({"type": "fall"})),
            # The alerts service's command to the robot is not a reading: ignored, not dead.
            (
                command_topic("anbu/" + GW + "/robot-{u}"),
                CheckinRequest(
                    request_id="r1", text_ko="괜찮으세요?", text_en="Are you all right?"
                ).to_json(),
            ),
        ],
    )
    robot = events_of(
        rig, "robot", 2, where=lambda e: e.detail in ("medication_taken", f"req-{rig.root}")
    )
    by_kind = {e.kind.value: e for e in robot}
    assert by_kind["robot"].detail == "medication_taken"
    assert by_kind["robot"].event_time == now  # device time within the window is used
    assert by_kind["checkin_answer"].value == 1.0
    assert by_kind["checkin_answer"].detail == f"req-{rig.root}"
    causes = sorted(s.cause.value for s in sos_of(rig, "robot", 2))
    assert causes == ["fall", "robot_emergency"]
    tail = KafkaTail(rig.settings, rig.settings.kafka.topics.events)
    heartbeats: list[DeviceEvent] = []

    def got_heartbeat(records: list[tuple[bytes | None, bytes]]) -> bool:
        heartbeats[:] = [
            e
            for _k, v in records
            for e in EventBatch.from_json(v).events
            if e.kind == "heartbeat" and e.device_id == GW
        ]
        return bool(heartbeats)

    tail.wait_for(got_heartbeat, 20)
    tail.close()
    assert heartbeats and heartbeats[0].household_id == HH


def test_device_clock_a_year_ahead_is_replaced_and_flagged(rig: Rig) -> None:
    ahead = utcnow() + timedelta(days=365)
    publish(
        rig,
        [
            (
                "anbu/" + GW + "/robot-{u}",
                json.dumps(
                    {"type": "interaction", "interaction": "voice", "ts": ahead.timestamp()}
                ),
            )
        ],
    )
    (event,) = events_of(rig, "robot", 1, where=lambda e: e.detail == "voice")
    assert event.clock_flagged
    assert event.event_time == event.receive_time
    assert abs(event.receive_time - utcnow()) < timedelta(minutes=1)


def test_bad_input_goes_to_dead_letters_with_reason(rig: Rig, fail_on_logged_errors: Any) -> None:
    # Bad input is an expected condition: dead letters and rate-limited warnings, no errors.
    big = b'{"occupancy":true,"pad":"' + b"x" * 70_000 + b'"}'
    publish(
        rig,
        [
            ("zigbee2mqtt/{u}_hall_motion", b"\xff\xfe not json"),
            ("zigbee2mqtt/{u}_kettle", '{"power":"lots","state":"ON"}'),
            ("zigbee2mqtt/{u}_entrance", big),
            ("anbu/" + GW + "/robot-{u}", '{"type":"checkin_answer","ok":true}'),
            ("anbu/" + GW + "/sim-{u}", '{"anything":1}'),
            ("zigbee2mqtt/{u}_stranger", '{"occupancy":true}'),
        ],
    )
    letters = {d.topic: d for d in dead_letters(rig, rig.root, 6)}
    t = rig.topic
    assert letters[t("zigbee2mqtt/{u}_hall_motion")].reason == "not_json"
    assert letters[t("zigbee2mqtt/{u}_hall_motion")].payload_encoding == "base64"
    wrong = letters[t("zigbee2mqtt/{u}_kettle")]
    assert wrong.reason == "invalid_payload" and "power" in wrong.detail
    assert wrong.payload == '{"power":"lots","state":"ON"}'
    assert letters[t("zigbee2mqtt/{u}_entrance")].reason == "payload_too_large"
    missing = letters[t("anbu/" + GW + "/robot-{u}")]
    assert missing.reason == "invalid_payload" and "request_id" in missing.detail
    assert letters[t("anbu/" + GW + "/sim-{u}")].reason == "unknown_format"
    stranger = letters[t("zigbee2mqtt/{u}_stranger")]
    assert stranger.reason == "unregistered"
    # Every registered device under zigbee2mqtt/ hangs off GW, so installers see it there.
    assert stranger.gateway_id == GW
    # The bridge is still forwarding after all that.
    publish(rig, [("zigbee2mqtt/{u}_bed", '{"presence":false}')])
    still = events_of(rig, "z-bed", 1, where=lambda e: e.kind == "presence" and e.value == 0.0)
    assert len(still) == 1


def test_device_registered_while_running_is_picked_up(rig: Rig) -> None:
    late = _registered_while_running(
        rig, "late", "motion", "zigbee2mqtt", "zigbee2mqtt/{u}_late_motion"
    )
    publish(rig, [("zigbee2mqtt/{u}_late_motion", '{"occupancy":true}')])
    assert values(events_of(rig, "late", 1)) == {"motion": [1.0]}
    publish_registry(rig.settings, [late.model_copy(update={"retired": True})])
    deadline = time.monotonic() + 20
    while rig.bridge.cache.owner_of(late.mqtt_topic) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    publish(rig, [("zigbee2mqtt/{u}_late_motion", '{"occupancy":false}')])
    (letter,) = dead_letters(rig, rig.topic("{u}_late_motion"), 1)
    assert letter.reason == "unregistered"


def scrape(rig: Rig) -> dict[str, float]:
    port = rig.settings.ingest.metrics_port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_counters_on_metrics_endpoint_and_in_influxdb(rig: Rig) -> None:
    z2m_events = 'anbu_ingest_outcomes_total{outcome="event",source_format="zigbee2mqtt"}'
    unregistered = f'anbu_ingest_unregistered_total{{where="gateway:{GW}"}}'
    before = scrape(rig)
    publish(
        rig,
        [
            ("zigbee2mqtt/{u}_hall_motion", '{"battery":99,"linkquality":20,"occupancy":false}'),
            ("zigbee2mqtt/{u}_new_sensor", '{"occupancy":true}'),
        ],
    )
    (letter,) = dead_letters(rig, rig.topic("{u}_new_sensor"), 1)
    assert letter.reason == "unregistered"
    deadline = time.monotonic() + 20
    after = scrape(rig)
    acked = "anbu_ingest_acked_total"

    def caught_up(now: dict[str, float]) -> bool:
        return (
            now.get(z2m_events, 0) >= before.get(z2m_events, 0) + 3
            and now.get(acked, 0) >= before.get(acked, 0) + 2
        )

    while not caught_up(after) and time.monotonic() < deadline:
        time.sleep(0.2)
        after = scrape(rig)
    assert after[z2m_events] >= before.get(z2m_events, 0) + 3
    assert after[acked] >= before.get(acked, 0) + 2  # acknowledged once Kafka had them
    # Installers see unregistered topics counted per gateway.
    assert after[unregistered] >= before.get(unregistered, 0) + 1
    dead = (
        'anbu_ingest_outcomes_total{outcome="deadletter_unregistered",source_format="zigbee2mqtt"}'
    )
    assert after[dead] >= 1
    # The same cumulative counts reach InfluxDB (written every 0.5 s in this rig).
    influx = InfluxClient.from_settings(rig.settings)
    deadline = time.monotonic() + 20
    written = 0.0
    while time.monotonic() < deadline and written < after[z2m_events]:
        series = influx.query(
            'SELECT last("count") FROM "ingest_metrics" WHERE "outcome" = \'event\' '
            "AND \"source_format\" = 'zigbee2mqtt'"
        )
        written = series[0]["values"][0][1] if series else 0.0
        time.sleep(0.3)
    influx.close()
    assert written >= after[z2m_events]


def test_sos_is_not_queued_behind_lingering_telemetry(
    make_settings: Callable[..., Settings], unique: Any
) -> None:
    u = unique()
    settings = make_settings(
        {
            "mqtt.shared_group": f"g{u}",
            # Telemetry would wait a minute for its batch to fill; the SOS must not.
            "ingest.batch_linger": "60s",
            "ingest.batch_max_events": 10_000,
        }
    )
    ensure_topics(settings)
    button = DeviceRecord(
        device_id=f"btn-{u}",
        household_id=f"hh-{u}",
        kind="button",
        source_format="zigbee2mqtt",  # type: ignore[arg-type]
        mqtt_topic=f"zigbee2mqtt/{u}_button",
    )
    motion = button.model_copy(
        update={"device_id": f"mot-{u}", "kind": "motion", "mqtt_topic": f"zigbee2mqtt/{u}_motion"}
    )
    publish_registry(settings, [button, motion])
    bridge = Bridge(settings, client_id=f"bridge-sos-{u}", serve_metrics=False, write_influx=False)
    bridge.start(registry_timeout_s=30)
    try:
        assert bridge.subscribed.wait(15)
        with mqtt_publisher(settings) as client:
            for i in range(50):
                client.publish(
                    f"zigbee2mqtt/{u}_motion", f'{{"occupancy":{str(i % 2 == 0).lower()}}}', qos=1
                )
            client.publish(
                f"zigbee2mqtt/{u}_button", '{"action":"double"}', qos=1
            ).wait_for_publish(10)
        tail = KafkaTail(settings, settings.kafka.topics.sos)
        records = tail.wait_for(lambda r: len(r) >= 1, 20)
        tail.close()
        assert [SosEvent.from_json(v).device_id for _k, v in records] == [f"btn-{u}"]
        events = KafkaTail(settings, settings.kafka.topics.events)
        events.poll(500)
        assert events.records == []  # the telemetry is still lingering in its batch
        events.close()
    finally:
        bridge.stop()
    # Stopping flushes the lingering batch to Kafka before the bridge lets go.
    tail = KafkaTail(settings, settings.kafka.topics.events)
    got = tail.wait_for(lambda r: sum(len(EventBatch.from_json(v).events) for _k, v in r) >= 50, 20)
    tail.close()
    assert sum(len(EventBatch.from_json(v).events) for _k, v in got) == 50


def test_registry_tombstone_removes_a_device(rig: Rig) -> None:
    from kafka import KafkaProducer

    gone = _registered_while_running(
        rig, "gone", "plug", "tasmota", "tele/{u}_gone_plug", owned="/LWT"
    )
    deadline = time.monotonic() + 20
    producer = KafkaProducer(bootstrap_servers=rig.settings.kafka.bootstrap_servers)
    producer.send(rig.settings.kafka.topics.registry, key=f"device:{gone.device_id}".encode())
    producer.flush(10)
    producer.close()
    while rig.bridge.cache.owner_of(gone.mqtt_topic + "/LWT") is not None:
        assert time.monotonic() < deadline, "tombstone not applied"
        time.sleep(0.1)
    publish(rig, [("tele/{u}_gone_plug/LWT", "Online")])
    (letter,) = dead_letters(rig, rig.topic("{u}_gone_plug"), 1)
    assert letter.reason == "unregistered"
