"""Closing alerts: activity returning, the robot check-in answer, InfluxDB outages."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from kafka import KafkaConsumer, TopicPartition

from alerts.directory import StaticDirectory
from alerts.lifecycle import Lifecycle
from alerts.model import AlertState, HouseholdPolicy
from alerts.service import BackgroundService
from anbu.events import AlertKind, DeadLetter, Severity
from anbu.influx import InfluxClient, InfluxError
from anbu.timeutil import utcnow
from config import Settings
from ingest.anbu_format import CheckinRequest
from testkit.polling import wait_for
from testkit.services import running, start_influxdb
from tests.kit.alerts import EventProducer, HttpReceiver, make_event, resolved

ROBOT = "anbu/gw-robot/robot"


def subscribe(settings: Settings, topic: str) -> tuple[mqtt.Client, queue.Queue[bytes]]:
    received: queue.Queue[bytes] = queue.Queue()
    subscribed = queue.Queue[int]()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    client.on_message = lambda _c, _u, msg: received.put(bytes(msg.payload))
    client.on_subscribe = lambda *_a: subscribed.put(1)
    client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    subscribed.get(timeout=10)
    return client, received


def read_topic(settings: Settings, topic: str, timeout: float = 20.0) -> list[bytes]:
    """Records of ``topic`` (manually assigned consumer), waiting for at least one."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    try:
        partitions = wait_for(lambda: consumer.partitions_for_topic(topic), what=topic)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        found: list[bytes] = []

        def poll() -> list[bytes]:
            for records in consumer.poll(timeout_ms=200).values():
                found.extend(r.value for r in records)
            return found

        return wait_for(poll, timeout_s=timeout, what=f"a record on {topic}")
    finally:
        consumer.close()


def test_checkin_answer_closes_as_false_alarm_and_activity_auto_resolves(
    make_settings: Callable[..., Settings],
    http_receiver: HttpReceiver,
) -> None:
    settings = make_settings(
        {
            "alerts.webhook_url": http_receiver.url("/hook"),
            "alerts.metrics_port": None,
            "alerts.tick_interval": "0.1s",
            "alerts.checkin_timeout": "2s",
        }
    )
    directory = StaticDirectory(
        policies={
            "hh-robot": HouseholdPolicy("cc-1", "dong-a", (1, 1), True, 3),
            "hh-quiet": HouseholdPolicy("cc-1", "dong-a", (600,), True, 3),
        },
        robots={"hh-robot": ROBOT},
    )
    mqtt_client, commands = subscribe(settings, f"{ROBOT}/command")
    silent = make_event(
        "hh-robot",
        AlertKind.INACTIVITY,
        severity=Severity.HIGH,
        reason="No activity for 24 h",
        reason_ko="24시간 동안 활동 없음",
    )
    quiet = make_event("hh-quiet", AlertKind.INACTIVITY_ROUTINE, severity=Severity.WARNING)
    producer = EventProducer(settings)
    with BackgroundService(settings, directory) as service:
        producer.send(silent, quiet)
        # After its 1 s delay the alert is not escalated yet: the robot asks first.
        request = CheckinRequest.model_validate_json(commands.get(timeout=15))
        assert request.text_ko and request.text_en
        alert = service.store.get(silent.alert_id, full=True)
        assert alert.checkin_request_id == request.request_id
        assert alert.tier == 1
        assert [h.label.value for h in alert.history] == ["open", "checkin_requested"]

        # The resident answers; the detectors resolve the alert with the answer as reason.
        producer.send(
            resolved(silent, "checkin_answer", reason="resident answered the robot: I am fine")
        )
        producer.send(resolved(quiet, "activity"))
        wait_for(lambda: not service.store.get(silent.alert_id).state.active, what="closing")
        closed = service.store.get(silent.alert_id)
        assert closed.state is AlertState.FALSE_ALARM
        assert closed.closed_by == "resident"
        assert closed.close_note == "resident answered the robot: I am fine"
        wait_for(lambda: not service.store.get(quiet.alert_id).state.active, what="auto-resolve")
        assert service.store.get(quiet.alert_id).state is AlertState.AUTO_RESOLVED

        # No escalation after the answer (the check-in timeout was 2 s).
        time.sleep(2.5)
        assert [r.json()["tier"] for r in http_receiver.on("/hook")] == [1, 1]

        # A repeat of the closed episode from a restarted detector changes nothing.
        producer.send(silent)
        time.sleep(1.0)
        assert service.store.get(silent.alert_id).state is AlertState.FALSE_ALARM
        assert len(http_receiver.on("/hook")) == 2
        # A new episode opens a new alert.
        again = make_event("hh-robot", AlertKind.INACTIVITY, severity=Severity.HIGH)
        producer.send(again)
        wait_for(lambda: len(http_receiver.on("/hook")) == 3, what="the new episode's webhook")
        assert service.store.get(again.alert_id).state is AlertState.OPEN

        # A record that is not an AlertEvent is dead-lettered with the reason; the service
        # goes on.
        producer.producer.send(settings.kafka.topics.alerts, b'{"type":"alert"', key=b"hh-x")
        producer.producer.flush(10)
        letters = read_topic(settings, settings.kafka.topics.deadletter)
        letter = DeadLetter.from_json(letters[0])
        assert letter.reason == "invalid_alert_event" and letter.payload == '{"type":"alert"'
        assert letter.topic == settings.kafka.topics.alerts
    mqtt_client.loop_stop()
    mqtt_client.disconnect()
    producer.close()


def test_every_change_reaches_influxdb_after_an_outage(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    spec, log = start_influxdb(tmp_path / "own-influxdb")
    with running(spec, log) as influxdb:
        settings = make_settings(
            {
                "influx.url": f"http://127.0.0.1:{influxdb.port}",
                "alerts.metrics_port": None,
                "alerts.tick_interval": "0.1s",
            }
        )
        directory = StaticDirectory(
            policies={
                f"hh-{i}": HouseholdPolicy("cc-9", f"dong-{i % 2}", (2, 600), False, 2)
                for i in range(8)
            }
        )
        influx = InfluxClient.from_settings(settings)

        def points() -> list[tuple[str, str, str]]:
            try:
                series = influx.query('SELECT alert_id, actor FROM alert_events GROUP BY "state"')
            except InfluxError:  # the database is created with the first write
                return []
            return sorted(
                (row[1], s["tags"]["state"], row[2]) for s in series for row in s["values"]
            )

        producer = EventProducer(settings)
        with BackgroundService(settings, directory) as service:
            before = [make_event(f"hh-{i}") for i in range(3)]
            producer.send(*before)
            wait_for(lambda: len(points()) == 3, what="the first alerts in InfluxDB")

            # Small batches, so the catch-up takes several rounds with at most one batch in
            # memory (the rest waits in the store).
            service.sink.batch = 3
            influxdb.stop()
            during = [make_event(f"hh-{i}", AlertKind.INACTIVITY) for i in range(3, 8)]
            producer.send(*during)
            wait_for(lambda: len(service.store.list_alerts(active_only=True)) == 8, what="alerts")
            lifecycle = Lifecycle(service.store, directory, service.lifecycle.channels)
            now = utcnow()
            lifecycle.acknowledge(before[0].alert_id, "kim", "on my way", now)
            lifecycle.close(before[0].alert_id, AlertState.RESOLVED, "kim", "fell, helped up", now)
            lifecycle.close(during[0].alert_id, AlertState.FALSE_ALARM, "lee", "visiting son", now)
            producer.send(resolved(during[1], "activity"))
            # Unacknowledged ones escalate to tier 2 after 2 s, InfluxDB still down.
            wait_for(lambda: service.store.unwritten_count() >= 14, what="history while down")
            time.sleep(1.0)
            assert service.sink.writer.last_error is not None

            influxdb.restart()
            expected = wait_for(
                lambda: _history(service) if service.store.unwritten_count() == 0 else None,
                timeout_s=30,
                what="the outbox to drain",
            )
            wait_for(lambda: points() == expected, timeout_s=15, what="every change in InfluxDB")
            states = [state for _, state, _ in expected]
            assert states.count("open") == 8
            assert states.count("acknowledged") == 1 and states.count("resolved") == 1
            assert states.count("false_alarm") == 1 and states.count("auto_resolved") == 1
            assert states.count("escalated") == 5
            # Tags the dashboards group by.
            series = influx.query(
                "SELECT count(value) FROM alert_events GROUP BY care_center, dong, kind, severity"
            )
            assert {s["tags"]["care_center"] for s in series} == {"cc-9"}
            assert {s["tags"]["kind"] for s in series} == {"sos", "inactivity"}
        producer.close()


def _history(service: Any) -> list[tuple[str, str, str]]:
    alerts = service.store.list_alerts()
    return sorted((a.id, h.label.value, h.actor) for a in alerts for h in a.history)
