"""Doorstep visits on record: a care worker's visit, and what it does to open alerts.

A worker records a visit from the household page on the phone (``web.household``):
seen and well, not at home, or concern noted, with a note. The visit is kept in the alert
store (table ``visits``), with who recorded it and when (UTC). In the same transaction:

- *seen and well* resolves the household's active quiet-home alerts (``QUIET_HOME_KINDS``:
  inactivity, inactivity_routine, not_back, away_overrun), with the visit as the reason in
  the alert's history; escalation stops, as for any closed alert;
- *not at home* and *concern noted* leave them as they are (escalation goes on: nobody has
  seen the resident well) and note the visit in their history;
- an SOS is never closed by a visit (staff close it themselves); the visit is noted on it.

The free-text note is personal data (what the worker saw), so it stays in the ``visits``
table; alert history, which also goes to InfluxDB, only names the visit and its outcome.
History entries that only note a visit are kept out of InfluxDB
(:func:`alerts.store.keep_history_local`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import insert, select

from alerts.exceptions import TransitionRefused
from alerts.model import QUIET_HOME_KINDS, AlertState, HistoryLabel, from_micros, micros
from alerts.store import AlertStore, keep_history_local, visits_table
from alerts.tables import from_row
from anbu.events import AlertKind
from anbu.timeutil import in_seoul

NOTED_KINDS = tuple(sorted(QUIET_HOME_KINDS | {AlertKind.SOS.value}))
"""Kinds on whose active alerts a visit is noted (device-health alerts are not the visit's)."""


class VisitOutcome(StrEnum):
    """What the worker found at the door."""

    SEEN_WELL = "seen_well"
    NOT_HOME = "not_home"
    CONCERN = "concern"


OUTCOME_TEXT: dict[str, dict[str, str]] = {
    VisitOutcome.SEEN_WELL: {"ko": "만나서 안부 확인 (양호)", "en": "Seen and well"},
    VisitOutcome.NOT_HOME: {"ko": "부재 (만나지 못함)", "en": "Not at home"},
    VisitOutcome.CONCERN: {"ko": "우려 사항 있음", "en": "Concern noted"},
}


@dataclass(frozen=True, slots=True)
class Visit:
    """One recorded doorstep visit.

    Attributes:
        id: the visit's id.
        household_id: the household visited.
        care_center_id: the household's center when the visit was recorded.
        outcome: what the worker found.
        note: the worker's note (personal data: never sent to InfluxDB).
        recorded_by: who recorded it (the signed-in person, as in the audit log).
        at: when it was recorded (UTC).
    """

    id: str
    household_id: str
    care_center_id: str
    outcome: VisitOutcome
    note: str
    recorded_by: str
    at: datetime

    def text(self, lang: str) -> str:
        """The outcome in ``lang`` (``ko`` or ``en``)."""
        return OUTCOME_TEXT[self.outcome][lang]


@dataclass(frozen=True, slots=True)
class VisitResult:
    """A recorded visit and what it did to the household's alerts.

    Attributes:
        visit: the visit.
        closed: ids of the alerts it resolved.
        noted: ids of the active alerts it was noted on and left as they were.
    """

    visit: Visit
    closed: tuple[str, ...]
    noted: tuple[str, ...]


_KO_PREFIX = "방문 기록: "
_EN_PREFIX = "doorstep visit: "


def history_note(visit: Visit) -> str:
    """What the alert's history says of the visit (no free text: that stays in ``visits``).

    Both languages, since the inbox shows history notes as they are.
    """
    words = OUTCOME_TEXT[visit.outcome]
    return f"{_KO_PREFIX}{words['ko']} / {_EN_PREFIX}{words['en'].lower()} ({visit.id})"


def note_in(note: str, lang: str) -> str:
    """A history note in ``lang``: only its half if it is a visit's, else as written."""
    ko, sep, en = note.partition(f" / {_EN_PREFIX}")
    if not sep or not ko.startswith(_KO_PREFIX):
        return note  # a person's note, or another of anbu's
    if lang == "en":
        return _EN_PREFIX + en
    visit_id = en[en.rfind(" (") :] if " (" in en else ""
    return ko + visit_id


def record_visit(
    store: AlertStore,
    *,
    household_id: str,
    care_center_id: str,
    outcome: VisitOutcome,
    note: str,
    recorded_by: str,
    now: datetime,
) -> VisitResult:
    """Store a visit and apply it to the household's active alerts, in one transaction.

    Args:
        store: the alert store.
        household_id: the household visited.
        care_center_id: its center (the registry's, checked by the caller).
        outcome: what the worker found.
        note: the worker's note.
        recorded_by: who records it.
        now: when (aware).
    """
    visit = Visit(
        id=f"v-{uuid.uuid4().hex[:16]}",
        household_id=household_id,
        care_center_id=care_center_id,
        outcome=outcome,
        note=note,
        recorded_by=recorded_by,
        at=now,
    )
    closed: list[str] = []
    noted: list[str] = []
    reason = history_note(visit)
    with store.transaction() as conn:
        conn.execute(
            insert(visits_table).values(
                id=visit.id,
                household_id=household_id,
                care_center_id=care_center_id,
                outcome=outcome.value,
                note=note,
                recorded_by=recorded_by,
                at=micros(now),
            )
        )
        for kind in NOTED_KINDS:
            alert = store.active_for(conn, household_id, kind)
            if alert is None:
                continue
            if outcome is VisitOutcome.SEEN_WELL and kind in QUIET_HOME_KINDS:
                try:
                    store.close_alert(
                        conn, alert.id, AlertState.RESOLVED, now, recorded_by, reason
                    )
                except TransitionRefused:
                    continue  # closed by someone else a moment ago: nothing left to close
                closed.append(alert.id)
            else:
                store.add_history(conn, alert.id, now, HistoryLabel.VISIT, recorded_by, reason)
                keep_history_local(conn, alert.id)
                noted.append(alert.id)
    return VisitResult(visit, tuple(closed), tuple(noted))


def list_visits(
    store: AlertStore,
    *,
    households: Sequence[str] | None = None,
    centers: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[Visit]:
    """Visits, latest first.

    Args:
        store: the alert store.
        households: only these households (None: any).
        centers: only visits recorded for these centers (None: any).
        since: only visits at or after this moment.
        until: only visits before this moment.
        limit: most visits returned.
    """
    query = select(visits_table)
    if households is not None:
        query = query.where(visits_table.c.household_id.in_(list(households)))
    if centers is not None:
        query = query.where(visits_table.c.care_center_id.in_(list(centers)))
    if since is not None:
        query = query.where(visits_table.c.at >= micros(since))
    if until is not None:
        query = query.where(visits_table.c.at < micros(until))
    query = query.order_by(visits_table.c.at.desc(), visits_table.c.id).limit(limit)
    with store.engine.connect() as conn:
        return [_visit(row._mapping) for row in conn.execute(query).all()]


def _visit(m: Any) -> Visit:
    at = from_micros(m["at"])
    assert at is not None  # the column is NOT NULL
    return from_row(Visit, m, outcome=VisitOutcome(m["outcome"]), at=at)


class VisitIn(BaseModel):
    """A visit as the care worker records it.

    A concern must say what it is: "concern noted" with no note tells the center nothing.
    """

    model_config = ConfigDict(extra="forbid")

    outcome: VisitOutcome
    note: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _concern_says_what(self) -> VisitIn:
        if self.outcome is VisitOutcome.CONCERN and not self.note.strip():
            raise ValueError(
                "a concern needs a note saying what it is / 우려 사항은 메모에 내용을 적어 주세요"
            )
        return self


class VisitOut(BaseModel):
    """A recorded visit as the API answers it."""

    id: str
    household_id: str
    outcome: VisitOutcome
    outcome_ko: str
    outcome_en: str
    note: str
    recorded_by: str
    at: datetime = Field(description="when it was recorded, UTC")
    at_seoul: str = Field(description="the same moment in Asia/Seoul, as shown to staff")
    closed_alerts: list[str] = Field(default_factory=list)
    noted_alerts: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, visit: Visit, result: VisitResult | None = None) -> VisitOut:
        """Build from a stored visit (and what recording it did, when just recorded)."""
        return cls(
            id=visit.id,
            household_id=visit.household_id,
            outcome=visit.outcome,
            outcome_ko=visit.text("ko"),
            outcome_en=visit.text("en"),
            note=visit.note,
            recorded_by=visit.recorded_by,
            at=visit.at,
            at_seoul=in_seoul(visit.at).strftime("%Y-%m-%d %H:%M"),
            closed_alerts=list(result.closed) if result else [],
            noted_alerts=list(result.noted) if result else [],
        )


class VisitList(BaseModel):
    """A household's visits, latest first."""

    visits: list[VisitOut]
