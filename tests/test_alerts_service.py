"""``anbu alerts`` as the stack runs it: a process reading the real registry, with metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from anbu.stack.services import free_port
from config import Settings
from devices import residents
from devices import service as registry
from devices.unit_of_work import registry_session
from testkit.polling import wait_for
from tests.kit.alerts import EventProducer, HttpReceiver, SmtpServer, cli_flags, make_event


def test_anbu_alerts_process_uses_the_registry_and_exposes_metrics(
    settings: Settings,
    http_receiver: HttpReceiver,
    smtp_server: SmtpServer,
) -> None:
    # The registry publishes the household on anbu.registry and keeps the people in its DB.
    with registry_session(settings, publish=True, mqtt=False) as session:
        registry.create_care_center(
            session, "cc-r", "역삼 복지관", dongs=["역삼1동"], email="desk@cc-r.example"
        )
        household = registry.create_household(
            session, "cc-r", "역삼1동", escalation_delays_s=[1, 600], checkin_enabled=False
        )
        residents.add_contact(session, household.id, 1, "사회복지사", email="worker@cc-r.example")
        residents.add_contact(session, household.id, 2, "팀장", email="lead@cc-r.example")
        household_id = household.id

    metrics_port = free_port()
    flags = cli_flags(
        settings,
        {
            "alerts.webhook_url": http_receiver.url("/hook"),
            "alerts.webhook_secret": "s3cret",
            "alerts.smtp_host": "127.0.0.1",
            "alerts.smtp_port": smtp_server.port,
            "alerts.metrics_port": metrics_port,
            "alerts.tick_interval": "0.1s",
        },
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "anbu", *flags, "alerts"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    producer = EventProducer(settings)
    try:

        def metrics() -> str:
            try:
                return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            except httpx.HTTPError:
                return ""

        wait_for(metrics, timeout_s=30, what="the metrics endpoint")
        sos = make_event(household_id)
        producer.send(sos, sos)
        hook = wait_for(lambda: http_receiver.on("/hook"), timeout_s=30, what="the webhook")[0]
        body = hook.json()
        assert body["care_center_id"] == "cc-r" and body["dong"] == "역삼1동"
        # Tier 1 e-mail to the contact and the center; tier 2, after the household's
        # 1 s delay, to the team lead.
        wait_for(lambda: len(smtp_server.messages) == 2, timeout_s=20, what="two e-mails")
        first, second = (sorted(rcpt) for rcpt, _ in smtp_server.messages)
        assert first == ["desk@cc-r.example", "worker@cc-r.example"]
        assert second == ["lead@cc-r.example"]
        assert [r.json()["tier"] for r in http_receiver.on("/hook")] == [1, 2]
        def delivered() -> str:
            text = metrics()
            return text if 'channel="email",outcome="sent"} 2.0' in text else ""

        text = wait_for(delivered, what="metrics of the deliveries")
        assert 'anbu_alerts_notifications_total{channel="webhook",outcome="sent"} 2.0' in text
        assert 'anbu_alerts_detector_events_total{action="raise",outcome="duplicate"} 1.0' in text
    finally:
        producer.close()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    assert b"s3cret" not in output
