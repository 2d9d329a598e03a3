"""Scheduled check-in calls on record: one row per household and call time, in the alert store.

The row *is* the claim: it is inserted once per (household, call time) with
``ON CONFLICT DO NOTHING``, so of several alerts services on one store, and of one service
before and after a restart, exactly one places each scheduled call. A service that dies
between claiming and asking the provider leaves a claim that expires (``claimed_until``);
any service then asks again, with the same call id as the provider's idempotency key.

A call's life: ``claimed`` → ``requested`` (the provider took it) → ``done`` (an outcome:
reported by the provider, or ``no_report`` once the wait is over); or ``not_made`` (no
number in the registry, the provider refused it for good, or it could not be placed within
the late limit). ``evaluated`` marks a done call whose consequences for alerts were applied
(:mod:`alerts.checkin_scheduler`), so a crash between the two is caught up at the next poll.

No phone number or name is kept here: the number is read from the registry at the moment
of the call (:func:`alerts.notifiers.voicebot.resident_phone`).

The table is defined on the alert store's metadata and created when the store is opened
(``metadata.create_all``, as for ``visits``), and once more by :class:`CheckinCalls`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.model import from_micros, micros
from alerts.notifiers.voicebot import CallOutcome
from alerts.store import AlertStore
from alerts.tables import from_row, household_table, metadata

NO_REPORT = "no_report"
"""The outcome of a call the provider never reported on within the wait."""

MISSED = frozenset({CallOutcome.NO_ANSWER.value, CallOutcome.UNREACHABLE.value, NO_REPORT})
"""Outcomes that count as a missed call."""


class CallState(StrEnum):
    """Where a scheduled call is."""

    CLAIMED = "claimed"
    REQUESTED = "requested"
    DONE = "done"
    NOT_MADE = "not_made"


checkin_calls_table = household_table(
    "checkin_calls",
    Column("due_at", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("claimed_until", BigInteger),
    Column("attempts", Integer, nullable=False, default=0),
    Column("requested_at", BigInteger),
    Column("finished_at", BigInteger),
    Column("evaluated", Boolean, nullable=False, default=False),
    Column("alert_id", String(64)),
    # why a call was not made (provider's status, "no phone number"): never the number
    Column("last_error", Text),
    UniqueConstraint("household_id", "due_at", name="one_call_per_time"),
    Index("checkin_calls_state", "state", "claimed_until"),
    Index("checkin_calls_household", "household_id", "due_at"),
)


@dataclass(frozen=True, slots=True)
class ScheduledCall:
    """One scheduled call as stored (times are the schedule clock's, UTC)."""

    id: str
    household_id: str
    care_center_id: str
    due_at: datetime
    state: CallState
    outcome: str | None
    attempts: int
    requested_at: datetime | None
    finished_at: datetime | None
    evaluated: bool
    alert_id: str | None
    last_error: str | None

    @property
    def missed(self) -> bool:
        """Whether the resident was called and did not answer (or could not be reached)."""
        return self.state is CallState.DONE and self.outcome in MISSED


def _call(m: Any) -> ScheduledCall:
    due = from_micros(m["due_at"])
    assert due is not None  # NOT NULL
    return from_row(
        ScheduledCall,
        m,
        due_at=due,
        state=CallState(m["state"]),
        requested_at=from_micros(m["requested_at"]),
        finished_at=from_micros(m["finished_at"]),
        evaluated=bool(m["evaluated"]),
    )


_t = checkin_calls_table.c


class CheckinCalls:
    """The scheduled calls in the alert store.

    Args:
        store: the alert store (its engine and transactions).
    """

    def __init__(self, store: AlertStore) -> None:
        self.store = store
        # `anbu web` and `anbu alerts` may open a store at the same moment.
        for attempt in range(5):
            try:
                metadata.create_all(store.engine, tables=[checkin_calls_table])
                break
            except (OperationalError, ProgrammingError) as exc:
                if "already exists" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2)

    def claim(
        self,
        household_id: str,
        care_center_id: str,
        due_at: datetime,
        now: datetime,
        lease_s: float,
    ) -> str | None:
        """Claim the household's call at ``due_at``; return its new id, or None if taken."""
        call_id = uuid.uuid4().hex
        values = {
            "id": call_id,
            "household_id": household_id,
            "care_center_id": care_center_id,
            "due_at": micros(due_at),
            "state": CallState.CLAIMED.value,
            "claimed_until": micros(now) + int(lease_s * 1_000_000),
            "attempts": 0,
            "evaluated": False,
        }
        with self.store.transaction() as conn:
            statement: Any
            if conn.dialect.name == "postgresql":
                statement = postgresql.insert(checkin_calls_table).on_conflict_do_nothing()
            else:
                statement = sqlite.insert(checkin_calls_table).on_conflict_do_nothing()
            inserted = conn.execute(statement.values(**values).returning(_t.id)).first()
        return call_id if inserted is not None else None

    def reclaim(self, now: datetime, lease_s: float, oldest_due: datetime) -> list[ScheduledCall]:
        """Take over claimed calls whose claim expired (due at or after ``oldest_due``).

        Claimed calls older than that are given up (``not_made``): a call hours late is no
        longer the call the schedule asked for.
        """
        at = micros(now)
        with self.store.transaction() as conn:
            conn.execute(
                update(checkin_calls_table)
                .where(
                    _t.state == CallState.CLAIMED.value,
                    _t.claimed_until < at,
                    _t.due_at < micros(oldest_due),
                )
                .values(
                    state=CallState.NOT_MADE.value,
                    finished_at=at,
                    evaluated=True,
                    last_error="not placed within the late limit",
                )
            )
            stale = conn.execute(
                select(_t.id).where(_t.state == CallState.CLAIMED.value, _t.claimed_until < at)
            ).all()
        taken: list[ScheduledCall] = []
        for (call_id,) in stale:
            with self.store.transaction() as conn:
                result = conn.execute(
                    update(checkin_calls_table)
                    .where(
                        _t.id == call_id,
                        _t.state == CallState.CLAIMED.value,
                        _t.claimed_until < at,
                    )
                    .values(claimed_until=at + int(lease_s * 1_000_000))
                )
                if result.rowcount == 1:
                    row = conn.execute(select(checkin_calls_table).where(_t.id == call_id)).first()
                    assert row is not None
                    taken.append(_call(row._mapping))
        return taken

    def requested(self, call_id: str, now: datetime) -> None:
        """The provider took the call."""
        with self.store.transaction() as conn:
            conn.execute(
                update(checkin_calls_table)
                .where(_t.id == call_id, _t.state == CallState.CLAIMED.value)
                .values(
                    state=CallState.REQUESTED.value,
                    requested_at=micros(now),
                    attempts=_t.attempts + 1,
                    claimed_until=None,
                    last_error=None,
                )
            )

    def failed(self, call_id: str, now: datetime, error: str, retry_s: float | None) -> None:
        """Asking the provider failed: try again after ``retry_s``, or (None) give up."""
        values: dict[str, Any] = {"attempts": _t.attempts + 1, "last_error": error[:300]}
        if retry_s is None:
            values.update(
                state=CallState.NOT_MADE.value, finished_at=micros(now), evaluated=True,
                claimed_until=None,
            )
        else:
            values["claimed_until"] = micros(now) + int(retry_s * 1_000_000)
        with self.store.transaction() as conn:
            conn.execute(
                update(checkin_calls_table)
                .where(_t.id == call_id, _t.state == CallState.CLAIMED.value)
                .values(**values)
            )

    def get(self, call_id: str) -> ScheduledCall | None:
        """One scheduled call, or None (not a scheduled call: an alert's call, or unknown)."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(checkin_calls_table).where(_t.id == call_id)).first()
        return None if row is None else _call(row._mapping)

    def report(self, call_id: str, outcome: str, now: datetime) -> bool:
        """Record the call's outcome; False if it already has one (a repeat, or too late)."""
        with self.store.transaction() as conn:
            result = conn.execute(
                update(checkin_calls_table)
                .where(
                    _t.id == call_id,
                    _t.outcome.is_(None),
                    _t.state.in_([CallState.CLAIMED.value, CallState.REQUESTED.value]),
                )
                .values(
                    state=CallState.DONE.value,
                    outcome=outcome,
                    finished_at=micros(now),
                    claimed_until=None,
                )
            )
        return bool(result.rowcount == 1)

    def expire(self, now: datetime, wait_s: float) -> int:
        """Calls requested more than ``wait_s`` ago with no report: done, ``no_report``."""
        with self.store.transaction() as conn:
            result = conn.execute(
                update(checkin_calls_table)
                .where(
                    _t.state == CallState.REQUESTED.value,
                    _t.requested_at < micros(now) - int(wait_s * 1_000_000),
                )
                .values(state=CallState.DONE.value, outcome=NO_REPORT, finished_at=micros(now))
            )
        return int(result.rowcount or 0)

    def unevaluated(self) -> list[ScheduledCall]:
        """Done calls whose consequences for alerts are not applied yet, oldest first."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(checkin_calls_table)
                .where(_t.state == CallState.DONE.value, _t.evaluated == False)  # noqa: E712
                .order_by(_t.due_at)
            ).all()
        return [_call(r._mapping) for r in rows]

    def evaluated(self, call_id: str, alert_id: str | None) -> None:
        """Mark a done call's consequences applied (and the alert it opened, if any)."""
        with self.store.transaction() as conn:
            conn.execute(
                update(checkin_calls_table)
                .where(_t.id == call_id)
                .values(evaluated=True, alert_id=alert_id)
            )

    def recent(self, household_id: str, limit: int = 20) -> list[ScheduledCall]:
        """The household's calls that were placed (or are being placed), latest first."""
        return latest_calls(self.store, household_id, limit)

    def for_household(self, household_id: str) -> list[ScheduledCall]:
        """Every call of the household, oldest first (for pages and tests)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(checkin_calls_table)
                .where(_t.household_id == household_id)
                .order_by(_t.due_at)
            ).all()
        return [_call(r._mapping) for r in rows]


def latest_calls(
    store: AlertStore, household_id: str, limit: int, *, placed_only: bool = True
) -> list[ScheduledCall]:
    """The household's latest calls, latest first; ``placed_only=False`` adds ``not_made``.

    A read of the store only (the table exists once a store was opened), so a page can ask
    without :class:`CheckinCalls` creating the table again.
    """
    where = [_t.household_id == household_id]
    if placed_only:
        where.append(_t.state != CallState.NOT_MADE.value)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(checkin_calls_table)
            .where(and_(*where))
            .order_by(_t.due_at.desc())
            .limit(limit)
        ).all()
    return [_call(r._mapping) for r in rows]


def missed_run(calls: list[ScheduledCall], call: ScheduledCall) -> list[ScheduledCall]:
    """The run of missed calls in a row that ``call`` belongs to (``calls`` latest first).

    Empty when ``call`` was not missed, or when the resident answered a later call: that
    answer already says they are well. A call still waiting for its outcome, or still being
    placed, ends the run on its side: only calls known to be missed count. Evaluated around
    ``call`` rather than from the latest call, so a call placed meanwhile cannot hide a run.
    """
    if not call.missed:
        return []
    ids = [c.id for c in calls]
    if call.id not in ids:
        return []
    at = ids.index(call.id)
    later = calls[:at]
    if any(c.outcome == CallOutcome.ANSWERED_WELL.value for c in later):
        return []
    run = [call]
    for newer in reversed(later):
        if not newer.missed:
            break
        run.insert(0, newer)
    for older in calls[at + 1 :]:
        if not older.missed:
            break
        run.append(older)
    return run
