"""A household's scheduled check-in calls as the household page shows them.

The schedule (from the registry record, passed in), the latest calls with what came of each,
how many calls in a row were missed, and when the next call is due. No phone number and no
provider error text: the page's people need what happened, not why a provider refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from alerts.checkin_calls import NO_REPORT, CallState, ScheduledCall, latest_calls
from alerts.notifiers.voicebot import CallOutcome
from alerts.store import AlertStore
from anbu.call_schedule import CallSchedule, parse_call_schedule

SHOWN = 5
"""Calls listed on the page (latest first)."""
COUNTED = 50
"""Calls read to count a run of missed ones; a longer run is shown as this many."""


class CallStatus(StrEnum):
    """What came of one scheduled call: did the resident answer, and how."""

    ANSWERED_WELL = CallOutcome.ANSWERED_WELL.value
    ASKED_FOR_HELP = CallOutcome.ASKED_FOR_HELP.value
    NO_ANSWER = CallOutcome.NO_ANSWER.value
    UNREACHABLE = CallOutcome.UNREACHABLE.value
    NO_REPORT = NO_REPORT
    WAITING = "waiting"
    NOT_MADE = "not_made"


def call_status(call: ScheduledCall) -> CallStatus:
    """The call's status: its outcome once done, else still waiting, or never placed."""
    if call.state is CallState.NOT_MADE:
        return CallStatus.NOT_MADE
    if call.state is CallState.DONE and call.outcome is not None:
        return CallStatus(call.outcome)
    return CallStatus.WAITING


def missed_in_row(calls: list[ScheduledCall]) -> int:
    """Missed calls in a row up to the latest known outcome (``calls`` latest first).

    Counted as the scheduler counts a run (:func:`alerts.checkin_calls.missed_run`): calls
    never placed are no calls at all, and a call still waiting for its outcome is not known
    to be missed, so the count starts at the latest call that has one.
    """
    run = 0
    for call in (c for c in calls if c.state is CallState.DONE):
        if not call.missed:
            break
        run += 1
    return run


@dataclass(frozen=True, slots=True)
class CallSummary:
    """The household page's view of the scheduled calls.

    Attributes:
        schedule: the parsed schedule, or None (no schedule, or a text that does not read).
        schedule_text: the registry's text as stored ("" when unset).
        calls: the latest calls, latest first (at most :data:`SHOWN`).
        missed_in_row: missed calls in a row up to the latest known outcome.
        next_call: the next scheduled call time (UTC), or None without a schedule.
    """

    schedule: CallSchedule | None
    schedule_text: str
    calls: list[ScheduledCall]
    missed_in_row: int
    next_call: datetime | None


def call_summary(
    store: AlertStore, household_id: str, schedule_text: str | None, now: datetime
) -> CallSummary:
    """Read the household's calls from the alert store and its schedule's next time.

    Args:
        store: the alert store.
        household_id: the household.
        schedule_text: ``checkin_schedule`` of its registry record (None: no calls scheduled).
        now: the moment the next call is counted from.
    """
    schedule: CallSchedule | None = None
    if schedule_text:
        try:
            schedule = parse_call_schedule(schedule_text)
        except ValueError:
            schedule = None  # checked where it enters the registry; shown as stored
    calls = latest_calls(store, household_id, COUNTED, placed_only=False)
    return CallSummary(
        schedule=schedule,
        schedule_text=schedule_text or "",
        calls=calls[:SHOWN],
        missed_in_row=missed_in_row(calls),
        next_call=schedule.next_after(now) if schedule is not None else None,
    )
