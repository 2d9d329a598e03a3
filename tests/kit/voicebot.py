"""A voice-bot provider for the tests: a real HTTP server that takes signed call requests and
POSTs signed outcomes back to the alerts service's callback, as a provider would.

Also a clock shifted to a chosen moment, for scheduled calls. The fixtures ``provider`` and
``call_settings`` are registered for every test by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from alerts.notifiers.webhook import SIGNATURE_HEADER, sign, verify
from anbu.stack.services import free_port
from anbu.timeutil import utcnow
from config import Settings
from testkit.http_stand_in import Posted, serving
from tests.kit.alerts import FAST_CLOCK, HttpReceiver

SECRET = "voicebot-shared-secret"
HOOK_SECRET = "hook-secret"


@dataclass
class StandInProvider:
    """A voice-bot provider: records call requests, reports the outcome set per number.

    ``outcomes[phone]`` is what it reports for calls to that number: one outcome for every
    call, or a list taken in order, one per call (``None`` in it: that call is not reported
    on). A number not in it is called but never reported on (the provider stays silent).
    """

    port: int = 0
    outcomes: dict[str, str | list[str | None]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    reports: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/calls"

    def report(self, callback_url: str, call_id: str, outcome: str) -> None:
        body = json.dumps({"call_id": call_id, "outcome": outcome}).encode()
        answer = httpx.post(
            callback_url,
            content=body,
            headers={SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"},
        )
        self.reports.append((answer.status_code, answer.json()))

    def calls_to(self, phone: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["phone"] == phone]

    def next_outcome(self, phone: str) -> str | None:
        planned = self.outcomes.get(phone)
        if isinstance(planned, list):
            return planned.pop(0) if planned else None
        return planned

    def answer(self, request: Posted) -> int:
        """The provider's answer to a call request: 401 unsigned, else 202 and the outcome
        reported a moment later."""
        if not verify(request.body, request.headers.get(SIGNATURE_HEADER, ""), SECRET):
            self.refused += 1
            return 401
        call = request.json()
        self.calls.append(call)
        outcome = self.next_outcome(call["phone"])
        if outcome is not None:
            # The call happens after the request was accepted, as with a real provider.
            threading.Timer(
                0.2, self.report, (call["callback_url"], call["call_id"], outcome)
            ).start()
        return 202


@pytest.fixture
def provider() -> Iterator[StandInProvider]:
    yield from serving(StandInProvider())


def voicebot_settings(
    make_settings: Callable[..., Settings],
    provider: StandInProvider,
    receiver: HttpReceiver,
    **extra: Any,
) -> Settings:
    """Settings for an alerts service that calls through ``provider`` and posts webhooks to
    ``receiver`` (``/hook``); ``extra``: more dotted overrides."""
    return make_settings(
        {
            "alerts.voicebot_url": provider.url(),
            "alerts.voicebot_secret": SECRET,
            "alerts.voicebot_timeout": "2s",
            "alerts.voicebot_callback_port": free_port(),
            "alerts.webhook_url": receiver.url("/hook"),
            "alerts.webhook_secret": HOOK_SECRET,
            **FAST_CLOCK,
            **extra,
        }
    )


@pytest.fixture
def call_settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    provider: StandInProvider,
    http_receiver: HttpReceiver,
) -> Settings:
    """:func:`voicebot_settings` for this test's ``provider`` and ``http_receiver``; a test
    parametrised with ``indirect=True`` passes more dotted overrides as the parameter."""
    extra: dict[str, Any] = getattr(request, "param", {})
    return voicebot_settings(make_settings, provider, http_receiver, **extra)


class ShiftedClock:
    """Real time moved to a chosen moment and running on from there: the clock the alerts
    service reads call schedules in, so a test reaches 10:00 on a Monday in a second.

    Args:
        start: the moment the clock shows now (aware).
    """

    def __init__(self, start: datetime) -> None:
        self._offset = timedelta(0)
        self.set(start)

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (forward or back) and run on from there."""
        self._offset = moment - utcnow()

    def __call__(self) -> datetime:
        return utcnow() + self._offset
