"""SOS notifications and escalation, against real Kafka, InfluxDB, SMTP and HTTP receivers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from alerts.lifecycle import Lifecycle
from alerts.model import AlertState, NotificationStatus
from alerts.notifiers.webhook import verify
from alerts.service import BackgroundService
from alerts.store import AlertStore
from anbu.events import AlertKind, Severity
from anbu.influx import InfluxClient
from anbu.timeutil import utcnow
from config import Settings
from testkit.polling import wait_for
from tests.kit.alerts import (
    SECRET,
    SMS_KEY,
    EventProducer,
    HttpReceiver,
    SmtpServer,
    alert_settings,
    alerts_running,
    directory_for,
    make_event,
)


def test_sos_gives_one_signed_webhook_and_one_email_however_many_duplicates(
    notify_settings: Settings, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    directory = directory_for({"hh-sos": [600, 600]})
    sos = make_event("hh-sos")
    with alerts_running(notify_settings, directory) as (service, producer):
        # The same SOS ten times (a detector restarting, a redelivery) ...
        producer.send(*[sos] * 10)
        # ... and a second press a moment later: a new episode id, same open alert.
        second = make_event("hh-sos", episode=utcnow())
        producer.send(second, second)
        wait_for(lambda: http_receiver.on("/hook"), what="the webhook")
        wait_for(lambda: smtp_server.messages, what="the e-mail")
        # Wait until the second press was applied (it updates the open alert), then a
        # little longer so any extra notification would have had time to arrive.
        wait_for(lambda: service.store.get(sos.alert_id).repeats >= 1, what="the repeat")
        time.sleep(1.5)

        hooks = http_receiver.on("/hook")
        assert len(hooks) == 1
        hook = hooks[0]
        assert verify(hook.body, hook.headers["X-Anbu-Signature"], SECRET)
        assert not verify(hook.body + b" ", hook.headers["X-Anbu-Signature"], SECRET)
        assert hook.headers["Idempotency-Key"]
        body = hook.json()
        assert body["type"] == "alert.raised"
        assert body["alert_id"] == sos.alert_id
        assert body["household_id"] == "hh-sos"
        assert body["kind"] == "sos" and body["severity"] == "critical"
        assert body["care_center_id"] == "cc-1" and body["tier"] == 1
        assert body["reason_ko"] == "SOS 버튼이 눌렸습니다"

        assert len(smtp_server.messages) == 1
        recipients, mail = smtp_server.messages[0]
        assert sorted(recipients) == ["desk@center.example", "worker-hh-sos@center.example"]
        text = mail.get_content()
        assert "긴급 호출" in text and "Emergency call (SOS)" in text
        assert "hh-sos" in text and "http://inbox.example/inbox" in text
        assert "care worker" not in text  # names stay in the registry

        # Tier 1 SMS went to the care worker's phone, with the gateway's API key.
        sms = wait_for(lambda: http_receiver.on("/sms"), what="the SMS")
        assert len(sms) == 1
        assert sms[0].headers["X-Api-Key"] == SMS_KEY
        assert sms[0].json()["to"] == ["010-1111-1111"]

        alert = service.store.get(sos.alert_id, full=True)
        assert alert.state is AlertState.OPEN
        assert [n.status for n in alert.notifications] == [NotificationStatus.SENT] * 3
        assert len(service.store.list_alerts(active_only=True)) == 1

        influx = InfluxClient.from_settings(notify_settings)
        rows = wait_for(
            lambda: influx.query(
                "SELECT alert_id, actor, note, value FROM alert_events "
                "WHERE household = $h AND \"state\" = 'open'",
                h="hh-sos",
            ),
            what="the alert in InfluxDB",
        )
        values = rows[0]["values"]
        assert len(values) == 1
        assert values[0][1:] == [sos.alert_id, "detector", "SOS button pressed", 1]


def test_unacknowledged_alert_escalates_and_acknowledging_stops_it(
    notify_settings: Settings, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    directory = directory_for({"hh-esc": [1, 1], "hh-ack": [1, 1], "hh-batt": [1, 1]})
    ignored = make_event("hh-esc", AlertKind.INACTIVITY, severity=Severity.HIGH)
    answered = make_event("hh-ack", AlertKind.INACTIVITY, severity=Severity.HIGH)
    with alerts_running(notify_settings, directory) as (service, producer):
        producer.send(answered)
        wait_for(lambda: service.store.list_alerts(households=["hh-ack"]), what="alert")
        lifecycle = Lifecycle(service.store, directory, service.lifecycle.channels)
        lifecycle.acknowledge(answered.alert_id, "kim (cc-1)", "calling now", utcnow())
        battery = make_event(
            "hh-batt", AlertKind.BATTERY_LOW, severity=Severity.WARNING, reason="battery 5 %"
        )
        producer.send(ignored, battery)

        def tiers(household: str) -> list[int]:
            return [
                r.json()["tier"]
                for r in http_receiver.on("/hook")
                if r.json()["household_id"] == household
            ]

        wait_for(lambda: tiers("hh-esc") == [1, 2, 3], timeout_s=20, what="escalation to tier 3")
        first, second, third = [
            r for r in http_receiver.on("/hook") if r.json()["household_id"] == "hh-esc"
        ]
        # Each tier waited its delay (1 s) before the next. Measured on the store's history:
        # the delay runs from the alert's opening, while the tier-1 delivery itself may land
        # a little late on a busy machine, so gaps between deliveries were flaky.
        opened_at, tier2_at, tier3_at = (
            h.at for h in service.store.get(ignored.alert_id, full=True).history
        )
        assert (tier2_at - opened_at).total_seconds() >= 0.99
        assert (tier3_at - tier2_at).total_seconds() >= 0.99
        assert first.at < second.at < third.at
        assert second.json()["type"] == "alert.escalated"
        # Tier 2 is the center's duty phone by SMS; tier 3 the district team by e-mail.
        sms_to = [r.json()["to"] for r in http_receiver.on("/sms")]
        assert ["010-0000-0000"] in sms_to
        mail_to = [sorted(rcpt) for rcpt, _ in smtp_server.messages]
        assert ["district@gu.example"] in mail_to

        # The acknowledged alert got its tier-1 notification and nothing more; a flat
        # battery reaches the center's system by webhook but no care worker, and never
        # escalates.
        time.sleep(1.0)
        assert tiers("hh-ack") == [1]
        assert tiers("hh-batt") == [1]
        assert "worker-hh-batt@center.example" not in str(smtp_server.messages)
        assert service.store.get(battery.alert_id).next_escalation_at is None
        acked = service.store.get(answered.alert_id, full=True)
        assert acked.state is AlertState.ACKNOWLEDGED
        assert acked.acked_by == "kim (cc-1)" and acked.ack_note == "calling now"
        assert acked.next_escalation_at is None

        escalated = service.store.get(ignored.alert_id, full=True)
        assert [h.label.value for h in escalated.history] == ["open", "escalated", "escalated"]
        assert escalated.tier == 3 and escalated.next_escalation_at is None

        influx = InfluxClient.from_settings(notify_settings)

        def states(household: str) -> list[str]:
            series = influx.query(
                'SELECT value FROM alert_events WHERE household = $h GROUP BY "state"',
                h=household,
            )
            return sorted(s["tags"]["state"] for s in series)

        wait_for(lambda: states("hh-ack") == ["acknowledged", "open"], what="ack in InfluxDB")
        wait_for(lambda: states("hh-esc") == ["escalated", "open"], what="escalations")


def test_a_failing_notifier_is_retried_and_does_not_block_the_others(
    make_settings: Callable[..., Settings],
    http_receiver: HttpReceiver,
    smtp_server: SmtpServer,
) -> None:
    settings = alert_settings(
        make_settings, http_receiver, smtp_server, **{"alerts.notify_attempts": 3}
    )
    http_receiver.status_for["/sms"] = 404  # the SMS gateway refuses: never retried
    http_receiver.fail_next["/hook"] = 2  # the webhook answers 500 twice, then 200
    directory = directory_for({"hh-flaky": [600, 600]})
    sos = make_event("hh-flaky")
    with alerts_running(settings, directory) as (service, producer):
        producer.send(sos)
        wait_for(lambda: smtp_server.messages, what="the e-mail")
        wait_for(lambda: http_receiver.on("/hook"), timeout_s=20, what="the retried webhook")

        def by_channel() -> dict[str, Any]:
            alert = service.store.get(sos.alert_id, full=True)
            return {n.channel: n for n in alert.notifications}

        wait_for(
            lambda: by_channel()["sms"].status is NotificationStatus.FAILED, what="SMS given up"
        )
        # The receiver records the webhook before it answers; the store marks it sent after.
        wait_for(
            lambda: by_channel()["webhook"].status is not NotificationStatus.PENDING,
            what="the webhook's outcome stored",
        )
        notes = by_channel()
        assert notes["webhook"].status is NotificationStatus.SENT
        assert notes["webhook"].attempts == 3
        assert notes["email"].status is NotificationStatus.SENT
        assert notes["sms"].attempts == 1
        assert "404" in (notes["sms"].last_error or "")
        # The error names the gateway's host, not its path (paths may carry secrets).
        assert "/sms" not in (notes["sms"].last_error or "")
        assert len(http_receiver.on("/hook")) == 1


def test_state_survives_a_restart_and_repeats_after_it_change_nothing(
    notify_settings: Settings, http_receiver: HttpReceiver
) -> None:
    directory = directory_for({"hh-restart": [3, 3]})
    event = make_event("hh-restart", AlertKind.INACTIVITY, severity=Severity.HIGH)
    producer = EventProducer(notify_settings)
    with BackgroundService(notify_settings, directory):
        producer.send(event)
        wait_for(lambda: len(http_receiver.on("/hook")) == 1, what="tier 1")
    # Down for a moment; the detector, restarted too, raises the same alert again.
    producer.send(event, event)
    with BackgroundService(notify_settings, directory) as service:
        wait_for(lambda: len(http_receiver.on("/hook")) == 2, timeout_s=20, what="tier 2")
        assert [r.json()["tier"] for r in http_receiver.on("/hook")] == [1, 2]
        alert = service.store.get(event.alert_id)
        assert alert.state is AlertState.OPEN and alert.tier == 2 and alert.repeats == 0
    store = AlertStore.from_settings(notify_settings)
    assert len(store.list_alerts()) == 1
    store.close()
    producer.close()
