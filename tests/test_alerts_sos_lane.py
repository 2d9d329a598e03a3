"""An SOS reaches the care worker straight from anbu.sos, even with no detector running."""

from __future__ import annotations

import time

from kafka import KafkaProducer

from alerts.service import BackgroundService
from anbu.events import SosCause, SosEvent, SourceFormat, idempotency_key
from anbu.sos import sos_alert
from anbu.timeutil import utcnow
from config import Settings
from testkit.polling import wait_for
from tests.kit.alerts import EventProducer, HttpReceiver, SmtpServer, directory_for


def test_sos_from_the_bridge_notifies_once_without_the_detector(
    notify_settings: Settings, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    now = utcnow()
    sos = SosEvent(
        household_id="hh-lane",
        device_id="button-1",
        cause=SosCause.BUTTON,
        event_time=now,
        receive_time=now,
        source_format=SourceFormat.ZIGBEE2MQTT,
        idempotency_key=idempotency_key("lane", now),
    )
    producer = KafkaProducer(bootstrap_servers=notify_settings.kafka.bootstrap_servers)
    with BackgroundService(notify_settings, directory_for({"hh-lane": [600, 600]})) as service:
        # The bridge's SOS, redelivered a few times; no detector worker runs.
        for _ in range(3):
            producer.send(notify_settings.kafka.topics.sos, sos.to_json(), key=b"hh-lane")
        producer.flush(30)
        wait_for(lambda: http_receiver.on("/hook"), timeout_s=30, what="the webhook")
        # Then the detector's own raise of the same SOS arrives on anbu.alerts.
        EventProducer(notify_settings).send(sos_alert(sos))
        wait_for(lambda: service.store.get(sos_alert(sos).alert_id) is not None, what="stored")
        time.sleep(1.5)  # time for any extra notification to arrive
    producer.close()
    hooks = http_receiver.on("/hook")
    assert len(hooks) == 1
    body = hooks[0].json()
    assert body["kind"] == "sos" and body["severity"] == "critical"
    assert body["household_id"] == "hh-lane"
    assert "emergency button pressed" in body["reason"]
    assert "비상 버튼이 눌렸습니다" in body["reason_ko"]
    assert len(smtp_server.messages) == 1
