"""The real services round-trip data: MQTT through Mosquitto, Kafka, InfluxDB."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer

from anbu.influx import InfluxClient, Point
from anbu.kafka_topics import ensure_topics
from config import Settings


def test_mqtt_message_goes_round_through_mosquitto(settings: Settings) -> None:
    got: list[tuple[str, bytes]] = []
    arrived = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append((msg.topic, bytes(msg.payload)))
        arrived.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="smoke-sub")
    sub.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(settings.mqtt.host, settings.mqtt.port)
    sub.loop_start()
    sub.subscribe("zigbee2mqtt/#", qos=1)
    assert subscribed.wait(5)

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="smoke-pub")
    pub.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    pub.connect(settings.mqtt.host, settings.mqtt.port)
    pub.loop_start()
    pub.publish("zigbee2mqtt/kitchen_motion", b'{"occupancy":true}', qos=1).wait_for_publish(5)
    assert arrived.wait(5)
    assert got == [("zigbee2mqtt/kitchen_motion", b'{"occupancy":true}')]
    for client in (sub, pub):
        client.loop_stop()
        client.disconnect()


def test_mosquitto_refuses_a_wrong_password(settings: Settings) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder")
    client.username_pw_set(settings.mqtt.username, "wrong")
    refused = threading.Event()
    client.on_connect = lambda _c, _u, _f, rc, _p: refused.set() if rc.is_failure else None
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    assert refused.wait(5)
    client.loop_stop()


def test_kafka_record_produced_and_consumed_in_a_group(settings: Settings) -> None:
    ensure_topics(settings)
    topic = settings.kafka.topics.events
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for i in range(20):
        producer.send(topic, key=f"h{i % 3}".encode(), value=f"v{i}".encode())
    producer.flush()
    producer.close()

    async def consume() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka.bootstrap_servers,
            group_id="smoke-group",
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            rebalance_timeout_ms=5000,
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                async for record in consumer:
                    assert record.value is not None
                    values.append(record.value)
                    if len(values) == 20:
                        break
            await consumer.commit()
        finally:
            await consumer.stop()
        return values

    values = asyncio.run(consume())
    assert sorted(values) == sorted(f"v{i}".encode() for i in range(20))


def test_influx_point_written_and_read_back(settings: Settings) -> None:
    client = InfluxClient.from_settings(settings)
    client.create_database()
    when = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    client.write([Point("activity", {"count": 7}, when, {"household": "hh-1", "kind": "motion"})])
    series = client.query("SELECT count FROM activity WHERE household = $h", h="hh-1")
    assert series[0]["values"] == [["2026-11-22T01:02:03Z", 7]]
