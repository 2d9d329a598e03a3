"""Doorstep visits through the web API, on the real alert store (SQLite and PostgreSQL).

A "seen and well" visit resolves an open quiet-home alert with the visit as the reason and
stops its escalation; "not at home" and "concern noted" leave it open and are noted on it; an
SOS is never closed by a visit; another center's staff get 404; bad input gets a 422 saying
what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from alerts.directory import RegistryDirectory
from alerts.lifecycle import Channels, Lifecycle
from alerts.model import AlertState, HistoryLabel
from alerts.store import AlertStore
from alerts.visits import Visit, VisitOutcome, list_visits, record_visit
from anbu.events import AlertKind, Severity
from anbu.timeutil import SEOUL, in_seoul, utcnow
from config import Settings
from devices.accounts import AuditEntry
from devices.db import init_db
from tests.kit.alerts import make_event
from tests.kit.postgres import new_postgres_database
from tests.kit.web import Registry, auth, seed_registry
from web.app import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def visit_settings(request: Any, make_settings: Callable[..., Settings]) -> Settings:
    """Settings whose alert store is SQLite (the default) or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return make_settings({"alerts.database_url": new_postgres_database()})
    return make_settings()


@dataclass
class World:
    """The web app, the alert store it uses, a lifecycle on it, and the seeded registry.

    ``household`` is center cc-a's; ``staff`` authorises its staff member.
    """

    client: TestClient
    store: AlertStore
    lifecycle: Lifecycle
    seeded: Registry
    settings: Settings

    @property
    def household(self) -> str:
        return self.seeded.households["cc-a"]

    @property
    def staff(self) -> dict[str, str]:
        return auth(self.seeded.tokens["cc-a"])

    def visit(self, body: dict[str, Any], token: str | None = "cc-a") -> httpx2.Response:
        """POST a visit to cc-a's household, as ``token``'s holder (None: nobody signed in)."""
        headers = auth(self.seeded.tokens[token]) if token else {}
        return self.client.post(visits_url(self.household), json=body, headers=headers)

    def open_alert(self, kind: AlertKind) -> str:
        """Open an alert of ``kind`` for cc-a's household; its id."""
        severity = Severity.CRITICAL if kind is AlertKind.SOS else Severity.HIGH
        event = make_event(self.household, kind, severity=severity)
        assert self.lifecycle.apply(event, utcnow()).created
        return event.alert_id

    def visits(self) -> list[Visit]:
        return list_visits(self.store, households=[self.household])


@pytest.fixture
def world(visit_settings: Settings) -> Iterator[World]:
    """A :class:`World` on ``visit_settings``."""
    seeded = seed_registry(visit_settings, delays=(600, 600))
    store = AlertStore.from_settings(visit_settings)
    lifecycle = Lifecycle(
        store, RegistryDirectory.from_settings(visit_settings), Channels(sms=True)
    )
    with TestClient(create_app(visit_settings)) as client:
        yield World(client, store, lifecycle, seeded, visit_settings)
    store.close()


def visits_url(household: str) -> str:
    return f"/api/v1/households/{household}/visits"


def test_seen_and_well_resolves_the_quiet_home_alert_with_the_visit_as_reason(world: World) -> None:
    store = world.store
    alert_id = world.open_alert(AlertKind.INACTIVITY)
    before = store.get(alert_id)
    assert before.state is AlertState.OPEN and before.next_escalation_at is not None

    answer = world.visit({"outcome": "seen_well", "note": "  문 앞에서 만남, 감기 기운  "})
    assert answer.status_code == 201, answer.text
    visit = answer.json()
    assert visit["closed_alerts"] == [alert_id] and visit["noted_alerts"] == []
    assert visit["recorded_by"] == "김복지 (cc-a)" and visit["note"] == "문 앞에서 만남, 감기 기운"
    assert visit["outcome_ko"] == "만나서 안부 확인 (양호)"
    assert visit["outcome_en"] == "Seen and well"
    # UTC stored and answered; Asia/Seoul beside it, as staff read it.
    stored = world.visits()
    assert [v.id for v in stored] == [visit["id"]]
    assert stored[0].at.utcoffset() == timedelta(0)
    assert visit["at_seoul"] == in_seoul(stored[0].at).strftime("%Y-%m-%d %H:%M")

    closed = store.get(alert_id, full=True)
    assert closed.state is AlertState.RESOLVED
    assert closed.closed_by == "김복지 (cc-a)" and visit["id"] in (closed.close_note or "")
    assert "doorstep visit: seen and well" in (closed.close_note or "")
    last = closed.history[-1]
    assert last.label is HistoryLabel.RESOLVED and visit["id"] in last.note
    # the worker's words stay in the visits table: the history (also sent to InfluxDB) has none
    assert all("감기" not in h.note for h in closed.history)
    # Escalation stopped: a day later nothing is due and no tier-2 message is queued.
    assert closed.next_escalation_at is None
    assert world.lifecycle.escalate_due(utcnow() + timedelta(days=1)) == []
    assert {n.tier for n in store.get(alert_id, full=True).notifications} == {1}

    # The inbox shows it closed with the reason.
    listed = world.client.get(f"/api/v1/alerts/{alert_id}", headers=world.staff)
    assert listed.json()["state"] == "resolved" and visit["id"] in listed.json()["close_note"]


def test_not_at_home_and_a_concern_leave_the_alert_open_and_show_on_it(world: World) -> None:
    store, household = world.store, world.household
    alert_id = world.open_alert(AlertKind.NOT_BACK)

    away = world.visit({"outcome": "not_home"})
    assert away.status_code == 201 and away.json()["noted_alerts"] == [alert_id]
    assert away.json()["closed_alerts"] == []
    concern = world.visit({"outcome": "concern", "note": "우편물이 쌓여 있음"})
    assert concern.status_code == 201 and concern.json()["noted_alerts"] == [alert_id]

    alert = store.get(alert_id, full=True)
    assert alert.state is AlertState.OPEN and alert.next_escalation_at is not None
    noted = [h for h in alert.history if h.label is HistoryLabel.VISIT]
    assert [h.actor for h in noted] == ["김복지 (cc-a)", "김복지 (cc-a)"]
    assert "not at home" in noted[0].note and "concern noted" in noted[1].note
    # Noted in the store only: a "visit" point would be the alert's newest state on the
    # dashboards and make the open alert look closed there. Its opening still goes.
    waiting = [entry.label for entry, _ in store.unwritten_history(0, 100)]
    assert HistoryLabel.OPEN in waiting and HistoryLabel.VISIT not in waiting
    # Escalation goes on: nobody has seen the resident well.
    assert alert_id in [a.id for a in store.due_for_escalation(utcnow() + timedelta(hours=1))]

    # Latest first, with the concern's words.
    listed = world.client.get(visits_url(household), headers=world.staff).json()["visits"]
    assert [v["outcome"] for v in listed] == ["concern", "not_home"]
    assert listed[0]["note"] == "우편물이 쌓여 있음"


def test_a_visit_does_not_close_an_sos(world: World) -> None:
    store = world.store
    sos = world.open_alert(AlertKind.SOS)
    quiet = world.open_alert(AlertKind.INACTIVITY_ROUTINE)

    answer = world.visit({"outcome": "seen_well"})
    assert answer.status_code == 201
    assert answer.json()["closed_alerts"] == [quiet] and answer.json()["noted_alerts"] == [sos]
    # Control: the same visit closed the household's quiet-home alert.
    assert store.get(quiet).state is AlertState.RESOLVED
    kept = store.get(sos, full=True)
    assert kept.state is AlertState.OPEN and kept.closed_by is None
    assert kept.history[-1].label is HistoryLabel.VISIT


def test_an_acknowledged_quiet_home_alert_is_resolved_by_a_visit_too(world: World) -> None:
    store = world.store
    alert_id = world.open_alert(AlertKind.AWAY_OVERRUN)
    world.lifecycle.acknowledge(alert_id, "김복지 (cc-a)", "가 보겠습니다", utcnow())
    answer = world.visit({"outcome": "seen_well"})
    assert answer.status_code == 201 and answer.json()["closed_alerts"] == [alert_id]
    assert store.get(alert_id).state is AlertState.RESOLVED


def test_only_staff_of_the_households_center_record_visits(world: World) -> None:
    store, household = world.store, world.household
    alert_id = world.open_alert(AlertKind.INACTIVITY)
    body = {"outcome": "seen_well", "note": "만남"}

    other = world.visit(body, "cc-b")
    assert other.status_code == 404 and "담당 센터에 해당 가구가 없습니다" in other.text
    listed = world.client.get(visits_url(household), headers=auth(world.seeded.tokens["cc-b"]))
    assert listed.status_code == 404
    assert world.visit(body, "operator").status_code == 404
    assert world.visit(body, None).status_code == 401
    unknown = world.client.post(visits_url("hh-nowhere"), json=body, headers=world.staff)
    assert unknown.status_code == 404
    # Nothing was recorded and the alert is untouched...
    assert world.visits() == []
    assert store.get(alert_id).state is AlertState.OPEN
    # ...while the household's own staff may (positive control).
    own = world.visit(body)
    assert own.status_code == 201
    assert [v.recorded_by for v in world.visits()] == ["김복지 (cc-a)"]
    # The audit log names the same person for the visit, and the refused attempt too.
    with Session(init_db(world.settings)) as session:
        audit = [
            (e.actor, e.status)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.subject == visits_url(household) and e.action == "POST"
        ]
    assert ("김복지 (cc-a)", 201) in audit and ("김복지 (cc-b)", 404) in audit


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"outcome": "fine"}, "'seen_well', 'not_home' or 'concern'"),
    ({"note": "왔다 감"}, "Field required"),
    ({"outcome": "concern", "note": "   "}, "a concern needs a note saying what it is"),
    ({"outcome": "seen_well", "note": "x" * 2001}, "at most 2000 characters"),
    ({"outcome": "seen_well", "visited_by": "someone else"}, "Extra inputs are not permitted"),
]


def test_bad_input_is_refused_saying_what_was_wrong(world: World) -> None:
    store = world.store
    alert_id = world.open_alert(AlertKind.INACTIVITY)
    for body, says in BAD_INPUT:
        answer = world.visit(body)
        assert answer.status_code == 422 and says in answer.text, (body, answer.text)
    assert world.visits() == []
    assert store.get(alert_id).state is AlertState.OPEN
    # Control: a concern with its note is taken.
    taken = world.visit({"outcome": "concern", "note": "기침"})
    assert taken.status_code == 201


def test_the_weekly_review_can_take_a_centers_visits_of_a_week(tmp_path: Path) -> None:
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.sqlite3'}")
    monday = datetime(2026, 11, 23, tzinfo=SEOUL)  # the review's weeks are Seoul weeks
    for household, center, at, outcome in (
        ("hh-1", "cc-a", monday - timedelta(minutes=1), VisitOutcome.SEEN_WELL),  # week before
        ("hh-1", "cc-a", monday, VisitOutcome.NOT_HOME),
        ("hh-2", "cc-a", monday + timedelta(days=3), VisitOutcome.CONCERN),
        ("hh-3", "cc-b", monday + timedelta(days=3), VisitOutcome.SEEN_WELL),  # other center
        ("hh-1", "cc-a", monday + timedelta(days=7), VisitOutcome.SEEN_WELL),  # week after
    ):
        record_visit(store, household_id=household, care_center_id=center, outcome=outcome,
                     note="", recorded_by="kim", now=at)
    week = list_visits(store, centers=["cc-a"], since=monday, until=monday + timedelta(days=7))
    assert [(v.household_id, v.outcome) for v in week] == [
        ("hh-2", VisitOutcome.CONCERN),
        ("hh-1", VisitOutcome.NOT_HOME),
    ]
    assert week[1].at == monday  # read back as the same moment (stored in UTC)
    store.close()


def test_a_store_from_before_visits_gets_the_table_when_opened(visit_settings: Settings) -> None:
    store = AlertStore.from_settings(visit_settings)
    with store.transaction() as conn:
        conn.execute(text("DROP TABLE visits"))  # the store as it was before visits existed
    assert not inspect(store.engine).has_table("visits")
    store.close()
    reopened = AlertStore.from_settings(visit_settings)
    assert inspect(reopened.engine).has_table("visits")
    assert list_visits(reopened) == []
    reopened.close()
