"""Real local stand-ins the alerts tests talk to: an HTTP receiver and an SMTP server.

No tests here; the alerts test modules import these helpers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaProducer

from anbu.events import AlertAction, AlertEvent, AlertKind, Severity, alert_id
from anbu.stack.services import free_port
from anbu.timeutil import utcnow


@dataclass
class Received:
    """One HTTP request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A real HTTP server in a thread that records POSTs.

    ``fail_next[path]`` makes the next N requests to ``path`` answer 500 (a flaky
    receiver); ``status_for`` maps a path to a fixed status code.
    """

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    fail_next: dict[str, int] = field(default_factory=dict)
    status_for: dict[str, int] = field(default_factory=dict)
    attempts: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


def _handler(receiver: HttpReceiver, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            with lock:
                receiver.attempts += 1
                status = receiver.status_for.get(self.path, 200)
                if receiver.fail_next.get(self.path, 0) > 0:
                    receiver.fail_next[self.path] -= 1
                    status = 500
                if status == 200:
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body, time.monotonic())
                    )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver, threading.Lock()))
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


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


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; return its value (fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


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

    def __init__(self, settings: Any) -> None:
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
