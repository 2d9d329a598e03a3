"""The voice-bot provider's callback: ``POST /voicebot/callback`` served by ``anbu alerts``.

It lives in the alerts service, not the web app, because an outcome has to act at once
through the lifecycle *and* the dispatcher: "asked for help" queues tier notifications that
the service sends in the same moment, with the registry directory that knows the contacts.
The web app only shares the alert store; it would leave the notifications for the service's
next sweep.

Body: ``{"call_id": "...", "outcome": "answered_well" | "asked_for_help" | "no_answer" |
"unreachable"}``, signed like the call request (``X-Anbu-Signature: sha256=<hex HMAC-SHA256
of the raw body>`` under ``alerts.voicebot_secret``). A missing or wrong signature is refused
with 401 before the body is even parsed, and changes nothing; an unknown call id is 404,
a malformed body 422. A report on a scheduled check-in call (:mod:`alerts.checkin_scheduler`)
goes to the scheduler; any other call id is an alert's call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from alerts.checkin_scheduler import CheckinScheduler
from alerts.lifecycle import Lifecycle
from alerts.notifiers.voicebot import CallOutcome
from alerts.notifiers.webhook import SIGNATURE_HEADER, verify
from anbu.timeutil import utcnow

PATH = "/voicebot/callback"


class CallReport(BaseModel):
    """What the provider reports about one call."""

    call_id: str
    outcome: CallOutcome


def callback_app(
    lifecycle: Lifecycle,
    secret: str,
    on_queued: Callable[[list[str]], Any],
    scheduled: CheckinScheduler | None = None,
) -> web.Application:
    """The callback endpoint as a small aiohttp application.

    aiohttp's server rather than uvicorn: it runs inside the service's own event loop and
    leaves the process's signal handling to ``anbu alerts``.

    Args:
        lifecycle: applies the outcome.
        secret: the HMAC key shared with the provider.
        on_queued: gets the ids of notifications the outcome queued (the dispatcher's send).
        scheduled: takes reports on scheduled check-in calls (other calls are alerts').
    """

    async def callback(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(body, request.headers.get(SIGNATURE_HEADER, ""), secret):
            return web.json_response({"detail": "bad or missing signature"}, status=401)
        try:
            report = CallReport.model_validate(json.loads(body))
        except (ValueError, ValidationError) as exc:
            return web.json_response({"detail": str(exc)[:300]}, status=422)
        found = scheduled.report(report.call_id, report.outcome) if scheduled else None
        if found is not None:
            if found.notifications:
                on_queued(found.notifications)
            return web.json_response(
                {
                    "alert_id": found.alert_id,
                    "state": found.state,
                    "duplicate": found.duplicate,
                    "ignored": None,
                    "scheduled": True,
                }
            )
        outcome = lifecycle.call_outcome(report.call_id, report.outcome, utcnow())
        if outcome.ignored == "no such call":
            return web.json_response({"detail": "no such call"}, status=404)
        if outcome.notifications:
            on_queued(outcome.notifications)
        alert = outcome.alert
        return web.json_response(
            {
                "alert_id": alert.id if alert else None,
                "state": alert.state.value if alert else None,
                "duplicate": outcome.duplicate,
                "ignored": outcome.ignored,
            }
        )

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post(PATH, callback)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app``; stop it with the returned runner's ``cleanup()``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
