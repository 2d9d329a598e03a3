"""Scheduled check-in calls: place each household's calls on time, and act on their outcomes.

Each household's schedule comes from its registry record (``checkin_schedule``, published on
``anbu.registry``; :mod:`anbu.call_schedule`). The alerts service polls
(``alerts.checkin_poll_interval``) and, for every call time that has come:

1. claims it in the alert store (:mod:`alerts.checkin_calls`: one row per household and
   call time, so two services on one store, or one service before and after a restart,
   place it once);
2. asks the voice-bot provider to call the resident (the number is read from the registry
   at that moment and sent to the provider only);
3. takes the outcome from the signed callback (:mod:`alerts.voicebot_callback`), or counts
   the call as missed when no report came within ``alerts.checkin_call_wait``.

Outcomes: *answered well* ends a run of missed calls (and resolves an open ``checkin_missed``
alert); *no answer*, *unreachable* and no report are missed calls, and
``alerts.checkin_missed_in_row`` of them in a row (2) open one ``checkin_missed`` alert for
the household's center; *asked for help* opens a critical SOS alert at once (cause
``call_help``). Both go through the lifecycle like a detector's alerts, with deterministic ids,
so a second service applying the same outcome changes nothing.

A call time that passed while no alerts service ran is placed late when the service comes
back, if it is at most ``alerts.checkin_late_limit`` (2 h) old: a morning call placed at noon
still says whether the resident is well today; one placed in the evening would be a
different call, and is given up (only the latest missed time of a household is tried).
Only schedules read in the service's first minute are caught up: a schedule a care worker
sets at 11:00 that names 10:00 begins with its next call.

Due times are kept in a heap ordered by time, so a poll touches only households whose call
is due; a changed schedule (a registry record) adds its next time, and entries of a schedule
that changed since are dropped when they come up.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from alerts.checkin_calls import CheckinCalls, ScheduledCall, missed_run
from alerts.directory import Directory
from alerts.exceptions import NotifyError
from alerts.lifecycle import Lifecycle
from alerts.notifiers.voicebot import CallOutcome, VoicebotNotifier
from anbu.call_schedule import CallSchedule, parse_call_schedule
from anbu.events import AlertAction, AlertEvent, AlertKind, Severity, alert_id
from anbu.sos import sos_raise
from anbu.timeutil import in_seoul, utcnow
from config import Settings

log = logging.getLogger(__name__)

HELP_CAUSE = "call_help"
CATCH_UP_S = 60.0
"""For this long after its first look at the schedules, a service places calls it missed."""
RETRY_S = 60.0
"""Wait before asking a provider again that could not take a call (timeout, 5xx)."""


class CallRequester(Protocol):
    """What places a call (:class:`alerts.notifiers.voicebot.VoicebotNotifier`)."""

    async def request_call(self, household_id: str, call_id: str, idempotency_key: str) -> None:
        """Ask the provider to call the resident (raises NotifyError)."""
        ...


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What a provider's report on a scheduled call did (the callback's answer)."""

    duplicate: bool
    alert_id: str | None
    state: str | None
    notifications: list[str]


class CheckinScheduler:
    """Places scheduled calls and applies their outcomes.

    Args:
        calls: the scheduled calls in the alert store.
        lifecycle: opens and resolves the alerts outcomes call for.
        directory: schedules and centers.
        requester: places a call.
        clock: the time the schedule is read in (the service's; a test's fake).
        wait_s: how long a call waits for its report.
        late_limit_s: how late a call may still be placed.
        missed_in_row: missed calls in a row that open an alert.
        lease_s: how long a claim holds before another service may take the call over.
        catch_up_s: for how long after its first poll the service places calls it missed.
    """

    def __init__(
        self,
        calls: CheckinCalls,
        lifecycle: Lifecycle,
        directory: Directory,
        requester: CallRequester,
        *,
        clock: Callable[[], datetime] = utcnow,
        wait_s: float = 1800.0,
        late_limit_s: float = 7200.0,
        missed_in_row: int = 2,
        lease_s: float = 60.0,
        catch_up_s: float = CATCH_UP_S,
    ) -> None:
        self.calls = calls
        self.lifecycle = lifecycle
        self.directory = directory
        self.requester = requester
        self.clock = clock
        self.wait_s = wait_s
        self.late_limit_s = late_limit_s
        self.missed_in_row = missed_in_row
        self.lease_s = lease_s
        self.catch_up_s = catch_up_s
        self._started: float | None = None
        self._known: dict[str, str] = {}
        self._parsed: dict[str, CallSchedule] = {}
        self._heap: list[tuple[datetime, str, str]] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        lifecycle: Lifecycle,
        directory: Directory,
        requester: object,
        clock: Callable[[], datetime] = utcnow,
    ) -> CheckinScheduler | None:
        """The scheduler ``settings`` configure, or None.

        None when no provider is configured (``requester`` is the ``voicebot`` notifier, if
        any), or no callback is served for the outcomes.
        """
        section = settings.alerts
        if not isinstance(requester, VoicebotNotifier):
            return None
        if not section.voicebot_callback_port:
            # Outcomes could never arrive: every call would count as missed.
            log.warning("alerts.voicebot_callback_port unset: no scheduled check-in calls")
            return None
        return cls(
            CheckinCalls(lifecycle.store),
            lifecycle,
            directory,
            requester,
            clock=clock,
            wait_s=section.checkin_call_wait.total_seconds(),
            late_limit_s=section.checkin_late_limit.total_seconds(),
            missed_in_row=section.checkin_missed_in_row,
            lease_s=2 * section.notify_timeout.total_seconds() + 10,
        )

    # --- the schedule ----------------------------------------------------------------

    def _refresh(self, schedules: Mapping[str, str], now: datetime) -> None:
        if schedules == self._known:
            return
        oldest = now - timedelta(seconds=self.late_limit_s)
        assert self._started is not None  # set by due_now
        # Catching up is for calls this service was not up to place: schedules read while it
        # starts (the registry is read within a minute). A schedule a worker sets at 11:00
        # that names 10:00 starts with the next call, not with a call at once.
        catch_up = time.monotonic() - self._started < self.catch_up_s
        for household, text in schedules.items():
            if self._known.get(household) == text:
                continue
            try:
                schedule = parse_call_schedule(text)
            except ValueError as exc:  # checked by the registry; a hand-made record
                log.warning("household %s: unreadable call schedule skipped: %s", household, exc)
                continue
            self._parsed[household] = schedule
            # The latest call time that passed within the late limit first: placed late if
            # no service placed it (the claim says), else nothing happens.
            missed = schedule.due_between(oldest, now) if catch_up else []
            due = missed[-1] if missed else schedule.next_after(now)
            heapq.heappush(self._heap, (due, household, text))
        for household in set(self._parsed) - set(schedules):
            del self._parsed[household]
        self._known = dict(schedules)

    def due_now(self) -> list[tuple[str, datetime]]:
        """Pop the (household, call time) pairs that have come; schedule each one's next."""
        now = self.clock()
        if self._started is None:
            self._started = time.monotonic()
        self._refresh(self.directory.call_schedules(), now)
        oldest = now - timedelta(seconds=self.late_limit_s)
        due: list[tuple[str, datetime]] = []
        while self._heap and self._heap[0][0] <= now:
            at, household, text = heapq.heappop(self._heap)
            if self._known.get(household) != text:
                continue  # the schedule changed or was removed: its new entry is in the heap
            if at >= oldest:
                due.append((household, at))
            schedule = self._parsed[household]
            heapq.heappush(self._heap, (schedule.next_after(max(at, oldest)), household, text))
        return due

    # --- one poll --------------------------------------------------------------------

    async def poll(self) -> list[str]:
        """Place what is due, time out what got no report, apply outcomes.

        Returns:
            ids of the notifications queued (for the dispatcher).
        """
        now = self.clock()
        for household, at in self.due_now():
            policy = self.lifecycle.policy(household)
            call_id = self.calls.claim(household, policy.care_center_id, at, now, self.lease_s)
            if call_id is not None:
                await self._place(household, call_id)
        oldest = now - timedelta(seconds=self.late_limit_s)
        for call in self.calls.reclaim(now, self.lease_s, oldest):
            await self._place(call.household_id, call.id)
        if self.calls.expire(now, self.wait_s):
            log.info("scheduled check-in calls with no report within %g s: missed", self.wait_s)
        queued: list[str] = []
        for call in self.calls.unevaluated():
            queued.extend(self.evaluate(call).notifications)
        return queued

    async def _place(self, household: str, call_id: str) -> None:
        try:
            await self.requester.request_call(household, call_id, call_id)
        except NotifyError as exc:
            retry = RETRY_S if exc.retryable else None
            self.calls.failed(call_id, self.clock(), str(exc), retry)
            log.warning(
                "scheduled check-in call %s of household %s not placed (%s)%s",
                call_id,
                household,
                exc,
                "; trying again" if exc.retryable else "",
            )
            return
        self.calls.requested(call_id, self.clock())
        log.info("scheduled check-in call %s of household %s requested", call_id, household)

    # --- outcomes --------------------------------------------------------------------

    def report(self, call_id: str, outcome: CallOutcome) -> ReportResult | None:
        """Apply the provider's (authenticated) report; None if ``call_id`` is not ours."""
        call = self.calls.get(call_id)
        if call is None:
            return None
        if not self.calls.report(call_id, outcome.value, self.clock()):
            return ReportResult(duplicate=True, alert_id=call.alert_id, state=None,
                                notifications=[])
        done = self.calls.get(call_id)
        assert done is not None
        return self.evaluate(done)

    def evaluate(self, call: ScheduledCall) -> ReportResult:
        """Apply a done call's consequences to the household's alerts (idempotent)."""
        now = utcnow()  # the lifecycle's clock: escalation deadlines run on it
        result = ReportResult(duplicate=False, alert_id=None, state=None, notifications=[])
        if call.outcome == CallOutcome.ASKED_FOR_HELP.value:
            result = self._apply(self._help(call), now)
        elif call.outcome == CallOutcome.ANSWERED_WELL.value:
            result = self._answered(call, now)
        else:
            run = missed_run(self.calls.recent(call.household_id), call)
            if len(run) >= self.missed_in_row:
                result = self._apply(self._missed(run), now)
        self.calls.evaluated(call.id, result.alert_id)
        return result

    def _apply(self, event: AlertEvent, now: datetime) -> ReportResult:
        outcome = self.lifecycle.apply(event, now)
        alert = outcome.alert
        if outcome.created:
            log.info(
                "alert %s opened: %s %s household %s (scheduled check-in calls)",
                event.alert_id,
                event.severity.value,
                event.kind.value,
                event.household_id,
            )
        return ReportResult(
            duplicate=outcome.duplicate,
            alert_id=alert.id if alert else event.alert_id,
            state=alert.state.value if alert else None,
            notifications=outcome.notifications,
        )

    def _answered(self, call: ScheduledCall, now: datetime) -> ReportResult:
        open_alert = self._active_missed(call.household_id)
        if open_alert is None:
            return ReportResult(duplicate=False, alert_id=None, state=None, notifications=[])
        clock = in_seoul(call.due_at).strftime("%Y-%m-%d %H:%M")
        event = _missed_event(
            open_alert, call, AlertAction.RESOLVE,
            f"the resident answered the scheduled check-in call of {clock} well",
            f"{clock} 정기 안부 전화에 괜찮다고 응답했습니다",
            {"resolved_by": "checkin_call"},
        )
        return self._apply(event, now)

    def _active_missed(self, household: str) -> str | None:
        store = self.lifecycle.store
        with store.transaction() as conn:
            alert = store.active_for(conn, household, AlertKind.CHECKIN_MISSED.value)
        return alert.id if alert else None

    def _missed(self, run: list[ScheduledCall]) -> AlertEvent:
        """The ``checkin_missed`` alert of a run (latest first): its id is the run's start."""
        first, last = run[-1], run[0]
        times = ", ".join(in_seoul(c.due_at).strftime("%m-%d %H:%M") for c in reversed(run))
        return _missed_event(
            alert_id(first.household_id, AlertKind.CHECKIN_MISSED, first.due_at),
            last, AlertAction.RAISE,
            f"{len(run)} scheduled check-in calls in a row not answered ({times})",
            f"정기 안부 전화 {len(run)}회 연속 미응답 ({times})",
            {"missed_calls": len(run), "last_outcome": str(last.outcome)},
        )

    def _help(self, call: ScheduledCall) -> AlertEvent:
        return sos_raise(call.household_id, HELP_CAUSE, call.due_at, "checkin-call")


def _missed_event(
    ident: str, call: ScheduledCall, action: AlertAction, en: str, ko: str, details: dict[str, Any]
) -> AlertEvent:
    """A raise or resolve of the household's ``checkin_missed`` alert ``ident``, at ``call``."""
    return AlertEvent(
        alert_id=ident,
        household_id=call.household_id,
        kind=AlertKind.CHECKIN_MISSED,
        severity=Severity.HIGH,
        action=action,
        raised_at=call.due_at,
        reason=en,
        reason_ko=ko,
        details=details,
    )
