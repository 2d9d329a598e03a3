"""Check-in calls through a voice-bot provider: ask the resident by phone before escalating.

Provider-neutral: anbu POSTs a call request (the resident's number, a script in Korean and
English, a call id and where to report back) to ``alerts.voicebot_url``; the provider later
POSTs the outcome to the alerts service's callback endpoint
(:mod:`alerts.voicebot_callback`). Both bodies are JSON signed with HMAC-SHA256 over the raw
body under ``alerts.voicebot_secret`` (header ``X-Anbu-Signature: sha256=<hex>``, the same
scheme as the outgoing webhooks).

The phone number is read from the registry database at the moment of the call and sent only
to the provider; it is never stored in the alert store, logged, or published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from alerts.exceptions import NotifyError
from alerts.model import Alert, Notification
from alerts.notifiers.http import HttpPoster
from alerts.notifiers.webhook import SIGNATURE_HEADER, sign

SCRIPT_KO = (
    "안녕하세요, 돌봄센터 안부 확인 전화입니다. 괜찮으시면 1번을 누르거나 '괜찮아요'라고 "
    "말씀해 주세요. 도움이 필요하시면 2번을 누르거나 '도와주세요'라고 말씀해 주세요."
)
SCRIPT_EN = (
    "Hello, this is your care center checking on you. If you are all right, press 1 or say "
    "'I'm fine'. If you need help, press 2 or say 'help'."
)
CALL_PREFIX = "call:"


class CallOutcome(StrEnum):
    """What the provider reports about one call."""

    ANSWERED_WELL = "answered_well"
    ASKED_FOR_HELP = "asked_for_help"
    NO_ANSWER = "no_answer"
    UNREACHABLE = "unreachable"


def call_target(call_id: str) -> str:
    """The notification target that carries a call's id."""
    return f"{CALL_PREFIX}{call_id}"


def resident_phone(directory: Any, household_id: str) -> str | None:
    """The resident's phone number from the registry, or None.

    A directory may answer itself (``resident_phone``); otherwise, for the registry
    directory, the ``residents`` table of the registry database is asked directly: the
    number is personal data and is never part of the records published on Kafka.
    """
    own = getattr(directory, "resident_phone", None)
    if callable(own):
        found = own(household_id)
        return str(found) if found else None
    lookup = getattr(directory, "lookup", None)
    engine = getattr(lookup, "engine", None)
    if engine is None:
        return None
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from devices.models import Resident

    with Session(engine) as session:
        phone = session.scalar(
            select(Resident.phone)
            .where(
                Resident.household_id == household_id,
                Resident.retired_at.is_(None),
                Resident.phone.is_not(None),
            )
            .order_by(Resident.id)
            .limit(1)
        )
    return str(phone) if phone else None


def call_request_body(call_id: str, phone: str, callback_url: str | None) -> bytes:
    """The JSON the provider receives."""
    body = {
        "call_id": call_id,
        "phone": phone,
        "language": "ko",
        "script_ko": SCRIPT_KO,
        "script_en": SCRIPT_EN,
        "callback_url": callback_url,
        "outcomes": [o.value for o in CallOutcome],
    }
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass(eq=False)  # compared and hashed by identity, as before
class VoicebotNotifier:
    """Requests a check-in call from the voice-bot provider.

    Args:
        directory: the registry view (for the resident's number).
        url: the provider's call-request endpoint (``alerts.voicebot_url``).
        secret: the shared HMAC key (``alerts.voicebot_secret``).
        callback_url: where the provider reports the outcome.
        timeout_s: per-request timeout.
    """

    channel = "voicebot"

    directory: Any
    url: str
    secret: str = field(repr=False)
    callback_url: str | None
    timeout_s: float = 10.0
    http: HttpPoster = field(init=False)

    def __post_init__(self) -> None:
        self.http = HttpPoster(self.timeout_s)

    async def send(self, alert: Alert, notification: Notification) -> None:
        """See :class:`alerts.notifiers.Notifier`.

        Raises:
            NotifyError: never retryable: no number, or the provider did not take the call.
        """
        call_id = notification.target.removeprefix(CALL_PREFIX)
        try:
            await self.request_call(alert.household_id, call_id, notification.id)
        except NotifyError as exc:
            # The escalation waits for this call: a provider that does not take it now is
            # not tried again; the next step goes on at once (alerts.dispatch).
            raise NotifyError(str(exc), retryable=False) from exc

    async def request_call(self, household_id: str, call_id: str, idempotency_key: str) -> None:
        """Ask the provider to call the household's resident (alert calls and scheduled ones).

        Raises:
            NotifyError: no number (not retryable), or the provider did not take the call
                (retryable when it may take it later: timeouts, 5xx, refused connections).
        """
        phone = resident_phone(self.directory, household_id)
        if not phone:
            raise NotifyError("the resident has no phone number in the registry", retryable=False)
        body = call_request_body(call_id, phone, self.callback_url)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": idempotency_key,
            SIGNATURE_HEADER: sign(body, self.secret),
        }
        try:
            await self.http.post(self.url, body, headers)
        except NotifyError as exc:
            raise NotifyError(f"voice-bot provider: {exc}", retryable=exc.retryable) from exc

    async def close(self) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        await self.http.close()
