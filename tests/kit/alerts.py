"""What the alerts tests share: local stand-ins (an HTTP receiver, an SMTP server), alert
events as a detector publishes them, and settings for the alerts service.

The fixtures ``http_receiver``, ``smtp_server`` and ``notify_settings`` are registered for
every test by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaProducer

from alerts.directory import CenterContact, Contact, StaticDirectory
from alerts.model import HouseholdPolicy
from alerts.service import AlertService, BackgroundService
from anbu.events import AlertAction, AlertEvent, AlertKind, Severity, alert_id
from anbu.stack.services import free_port
from anbu.timeutil import utcnow
from config import Settings
from testkit.http_stand_in import Posted, serving


@dataclass
class HttpReceiver:
    """A real HTTP server in a thread that records POSTs (the ones it answers 200).

    ``fail_next[path]`` makes the next N requests to ``path`` answer 500 (a flaky
    receiver); ``status_for`` maps a path to a fixed status code.
    """

    port: int = 0
    requests: list[Posted] = field(default_factory=list)
    fail_next: dict[str, int] = field(default_factory=dict)
    status_for: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Posted]:
        return [r for r in self.requests if r.path == path]

    def answer(self, request: Posted) -> int:
        with self.lock:
            self.attempts += 1
            status = self.status_for.get(request.path, 200)
            if self.fail_next.get(request.path, 0) > 0:
                self.fail_next[request.path] -= 1
                status = 500
            if status == 200:
                self.requests.append(request)
        return status


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    yield from serving(HttpReceiver())


class _MailHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


@dataclass
class SmtpServer:
    """aiosmtpd running in this test process."""

    port: int
    handler: _MailHandler

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return self.handler.messages


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = _MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpServer(port, handler)
    controller.stop()


def make_event(
    household: str,
    kind: AlertKind = AlertKind.SOS,
    *,
    action: AlertAction = AlertAction.RAISE,
    severity: Severity = Severity.CRITICAL,
    episode: datetime | None = None,
    details: dict[str, Any] | None = None,
    reason: str = "SOS button pressed",
    reason_ko: str = "SOS 버튼이 눌렸습니다",
) -> AlertEvent:
    """An AlertEvent as a detector publishes it."""
    start = episode or utcnow()
    return AlertEvent(
        alert_id=alert_id(household, kind, start),
        household_id=household,
        kind=kind,
        severity=severity,
        action=action,
        raised_at=start,
        reason=reason,
        reason_ko=reason_ko,
        details=details or {},
    )


class EventProducer:
    """Publishes AlertEvents on the alerts topic (kafka-python, keyed by household)."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.kafka.topics.alerts
        self.producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)

    def send(self, *events: AlertEvent) -> None:
        for event in events:
            self.producer.send(self.topic, event.to_json(), key=event.household_id.encode())
        self.producer.flush(30)

    def close(self) -> None:
        self.producer.close()


def resolved(event: AlertEvent, resolved_by: str, **extra: Any) -> AlertEvent:
    """The detector's RESOLVE of ``event``."""
    return event.model_copy(
        update={
            "action": AlertAction.RESOLVE,
            "details": {"resolved_by": resolved_by, **extra},
            "reason": f"resolved by {resolved_by}",
        }
    )


SECRET = "test-webhook-secret"
"""The webhook's signing secret in :func:`alert_settings`."""
SMS_KEY = "test-sms-key"
FAST_CLOCK: dict[str, Any] = {
    "alerts.metrics_port": None,
    "alerts.tick_interval": "0.1s",
    "alerts.notify_backoff_max": "1s",
}
"""Settings of an alerts service under test: no metrics port, quick ticks and retries."""


def alert_settings(
    make_settings: Callable[..., Settings],
    receiver: HttpReceiver,
    smtp: SmtpServer,
    **extra: Any,
) -> Settings:
    """Settings sending webhooks, SMS and e-mail to the stand-ins, on a fast clock."""
    return make_settings(
        {
            "alerts.webhook_url": receiver.url("/hook"),
            "alerts.webhook_secret": SECRET,
            "alerts.smtp_host": "127.0.0.1",
            "alerts.smtp_port": smtp.port,
            "alerts.sms_gateway_url": receiver.url("/sms"),
            "alerts.sms_api_key": SMS_KEY,
            **FAST_CLOCK,
            "alerts.inbox_url": "http://inbox.example/inbox",
            **extra,
        }
    )


@pytest.fixture
def notify_settings(
    make_settings: Callable[..., Settings], http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> Settings:
    """:func:`alert_settings` for this test's ``http_receiver`` and ``smtp_server``."""
    return alert_settings(make_settings, http_receiver, smtp_server)


@contextmanager
def alerts_running(
    settings: Settings, directory: StaticDirectory | None = None
) -> Iterator[tuple[AlertService, EventProducer]]:
    """The alerts service running in this process, and a producer of alert events for it.

    Both stop when the block ends (the service first).
    """
    producer = EventProducer(settings)
    try:
        with BackgroundService(settings, directory) as service:
            yield service, producer
    finally:
        producer.close()


def directory_for(households: dict[str, list[int]]) -> StaticDirectory:
    """Households of center cc-1 with the given escalation delays, contacts at 3 tiers."""
    directory = StaticDirectory(
        centers={
            "cc-1": CenterContact("cc-1", email="desk@center.example", duty_phone="010-0000-0000")
        }
    )
    for household, delays in households.items():
        directory.policies[household] = HouseholdPolicy("cc-1", "yeoksam1", tuple(delays), False, 3)
        directory.people[household] = [
            Contact(1, "care worker", "010-1111-1111", f"worker-{household}@center.example"),
            Contact(3, "district team", "010-3333-3333", "district@gu.example"),
        ]
    return directory


def cli_flags(settings: Settings, extra: dict[str, object]) -> list[str]:
    """``--set`` flags giving a child process the same services as ``settings``."""
    topics = settings.kafka.topics
    values: dict[str, object] = {
        "kafka.bootstrap_servers": ",".join(settings.kafka.bootstrap_servers),
        "kafka.topics.alerts": topics.alerts,
        "kafka.topics.registry": topics.registry,
        "kafka.topics.events": topics.events,
        "kafka.topics.sos": topics.sos,
        "kafka.topics.deadletter": topics.deadletter,
        "alerts.group_id": settings.alerts.group_id,
        "series.group_id": settings.series.group_id,
        "registry.consumer_group": settings.registry.consumer_group,
        "influx.url": settings.influx.url,
        "influx.database": settings.influx.database,
        "mqtt.port": settings.mqtt.port,
        "mqtt.password": settings.mqtt_password(),
        **extra,
    }
    flags = ["--data-dir", str(settings.data_dir)]
    for key, value in values.items():
        flags += ["--set", f"{key}={value}"]
    return flags
