"""Scheduled check-in calls, through the real alerts service, PostgreSQL, the registry and an
HTTP stand-in for the voice-bot provider (with its signed callback).

The service reads schedules in a shifted clock (``ShiftedClock``): the test puts it a moment
before 10:00 Seoul time instead of waiting for the morning.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka.errors import KafkaError

from alerts.checkin_calls import CallState, CheckinCalls, ScheduledCall
from alerts.checkin_scheduler import CheckinScheduler
from alerts.directory import StaticDirectory
from alerts.lifecycle import Channels, Lifecycle
from alerts.model import AlertState
from alerts.notifiers.voicebot import VoicebotNotifier
from alerts.notifiers.webhook import SIGNATURE_HEADER, sign
from alerts.service import AlertService, BackgroundService
from alerts.store import AlertStore
from anbu.kafka_topics import ensure_topics
from anbu.stack.services import free_port
from anbu.timeutil import SEOUL, in_seoul
from config import Settings
from devices import residents
from devices import service as registry
from devices.db import init_db
from devices.publisher import publish_snapshot, snapshot_wanted
from devices.unit_of_work import registry_session
from testkit.polling import wait_for
from tests.kit.alerts import HttpReceiver
from tests.kit.voicebot import SECRET, ShiftedClock, StandInProvider, voicebot_settings

MONDAY = (2026, 12, 7)


def seoul(hh: int, mm: int, ss: float = 0.0) -> datetime:
    """That Monday at hh:mm:ss in Seoul."""
    whole = int(ss)
    return datetime(*MONDAY, hh, mm, whole, int((ss - whole) * 1e6), tzinfo=SEOUL)


pytestmark = pytest.mark.usefixtures("fail_on_logged_errors")


@pytest.fixture
def schedule_settings(
    make_settings: Callable[..., Settings],
    provider: StandInProvider,
    http_receiver: HttpReceiver,
    postgres_database: str,
) -> Callable[..., Settings]:
    """Settings of an alerts service calling through ``provider``, its webhooks to
    ``http_receiver``, its store in this test's PostgreSQL database, polling schedules
    quickly; keyword arguments: more dotted overrides."""

    def make(**extra: Any) -> Settings:
        return voicebot_settings(
            make_settings,
            provider,
            http_receiver,
            **{
                "alerts.database_url": postgres_database,
                "alerts.checkin_poll_interval": "0.2s",
                "alerts.checkin_call_wait": "3s",
                **extra,
            },
        )

    return make


def register(settings: Settings, homes: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Households with a call schedule, by phone: ``{phone: (center, schedule)}``.

    Centers ``cc-a`` and ``cc-b`` post their own webhooks to ``/cc-a`` and ``/cc-b`` of the
    receiver whose URL the global webhook has. Returns household ids by phone.

    The schedules reach the alerts service on ``anbu.registry`` only: the topics are made
    first (a topic Kafka creates on the first send may refuse it for lack of a leader),
    and a publication Kafka refused anyway is repeated, as the web's snapshot would.
    """
    ensure_topics(settings)
    hook = str(settings.alerts.webhook_url)
    ids: dict[str, str] = {}
    with registry_session(settings, publish=True, mqtt=False) as session:
        for center in ("cc-a", "cc-b"):
            registry.create_care_center(
                session, center, f"센터 {center}", dongs=["농성1동"],
                webhook_url=hook.replace("/hook", f"/{center}"),
            )
        for phone, (center, schedule) in homes.items():
            made = registry.create_household(
                session, center, "농성1동", escalation_delays_s=[600, 600],
                checkin_schedule=schedule,
            )
            residents.add_resident(session, made.id, "김영순", phone=phone, consent=True)
            residents.add_contact(session, made.id, 1, "사회복지사", email="w@cc.example")
            ids[phone] = made.id
    if snapshot_wanted():
        wait_for(lambda: _republished(settings), what="the registry published")
    return ids


def _republished(settings: Settings) -> bool:
    try:
        return publish_snapshot(settings, init_db(settings)) > 0
    except KafkaError:
        return False


def calls_of(service: AlertService, household: str) -> list[ScheduledCall]:
    return CheckinCalls(service.store).for_household(household)


def done(service: AlertService, household: str, count: int) -> list[ScheduledCall]:
    """Wait until ``count`` of the household's calls are done and evaluated."""
    def evaluated() -> list[ScheduledCall] | None:
        calls = [x for x in calls_of(service, household) if x.evaluated]
        return calls if len(calls) >= count else None

    return wait_for(evaluated, what=f"{count} evaluated calls of {household}")


def alerts_of(service: AlertService, household: str, kind: str) -> list[Any]:
    return [a for a in service.store.list_alerts(households=[household]) if a.kind == kind]


def test_two_missed_calls_open_one_alert_an_answer_between_prevents_it_help_is_critical(
    schedule_settings: Callable[..., Settings],
    provider: StandInProvider,
    http_receiver: HttpReceiver,
) -> None:
    settings = schedule_settings()
    schedule = "daily 10:00,10:05,10:10"
    ids = register(
        settings,
        {
            "010-3333-0001": ("cc-a", schedule + ",10:15"),  # misses thrice, then answers
            "010-3333-0002": ("cc-b", schedule),  # misses, answers, misses
            "010-3333-0003": ("cc-b", "mon-fri 10:00"),  # asks for help
        },
    )
    missing, answering, helpless = ids["010-3333-0001"], ids["010-3333-0002"], ids["010-3333-0003"]
    provider.outcomes["010-3333-0001"] = ["no_answer", "unreachable", "no_answer", "answered_well"]
    provider.outcomes["010-3333-0002"] = ["no_answer", "answered_well", "no_answer"]
    provider.outcomes["010-3333-0003"] = "asked_for_help"
    clock = ShiftedClock(seoul(9, 59))
    with BackgroundService(settings, clock=clock) as service:
        time.sleep(0.6)  # three polls at 09:59: nothing is due yet
        assert provider.calls == []
        clock.set(seoul(9, 59, 59.5))
        wait_for(lambda: len(provider.calls) == 3, what="the 10:00 calls")
        first = done(service, missing, 1)[0]
        assert in_seoul(first.due_at) == seoul(10, 0)
        assert first.requested_at is not None and first.requested_at >= first.due_at
        assert first.care_center_id == "cc-a" and first.outcome == "no_answer"
        call = provider.calls_to("010-3333-0001")[0]
        assert call["call_id"] == first.id and "괜찮" in call["script_ko"]

        # "asked for help" on a scheduled call: a critical alert at once, notified
        sos = wait_for(lambda: alerts_of(service, helpless, "sos"), what="the help alert")[0]
        assert sos.severity == "critical" and sos.state is AlertState.OPEN
        assert "asked for help on a scheduled check-in call" in sos.reason
        assert "도움을 요청" in sos.reason_ko
        hooks = wait_for(
            lambda: [r.json() for r in http_receiver.on("/cc-b")
                     if r.json()["household_id"] == helpless],
            what="the center's webhook for the help alert",
        )
        assert hooks[0]["severity"] == "critical" and hooks[0]["kind"] == "sos"

        # one missed call opens nothing
        done(service, answering, 1)
        assert alerts_of(service, missing, "checkin_missed") == []

        clock.set(seoul(10, 4, 59.5))
        done(service, missing, 2)
        done(service, answering, 2)
        clock.set(seoul(10, 9, 59.5))
        done(service, missing, 3)
        done(service, answering, 3)
        assert len(provider.calls) == 7

        # the second missed call in a row opened one alert (the third changed nothing) ...
        opened = alerts_of(service, missing, "checkin_missed")
        assert len(opened) == 1
        alert = service.store.get(opened[0].id, full=True)
        assert alert.care_center_id == "cc-a" and alert.severity == "high"
        assert alert.state is AlertState.OPEN
        assert alert.reason.startswith("2 scheduled check-in calls in a row not answered")
        assert "연속 미응답" in alert.reason_ko
        assert [c.alert_id for c in calls_of(service, missing)][1:] == [alert.id, alert.id]
        center_hooks = wait_for(
            lambda: [r.json() for r in http_receiver.on("/cc-a")
                     if r.json()["kind"] == "checkin_missed"],
            what="cc-a's webhook",
        )
        assert [h["household_id"] for h in center_hooks] == [missing]
        # ... and an answer between two missed calls opened none, at no center
        assert alerts_of(service, answering, "checkin_missed") == []
        assert not [r for r in http_receiver.on("/cc-b") if r.json()["kind"] == "checkin_missed"]
        # the number went to the provider only
        stored = json.dumps([a.reason for a in service.store.list_alerts()])
        assert "010-3333" not in stored

        # an answered call ends the run: the open alert is resolved, with the reason kept
        clock.set(seoul(10, 14, 59.5))
        done(service, missing, 4)
        closed = service.store.get(alert.id)
        assert closed.state is AlertState.AUTO_RESOLVED
        assert closed.close_note == (
            "the resident answered the scheduled check-in call of 2026-12-07 10:15 well"
        )


def test_a_forged_report_on_a_scheduled_call_changes_nothing(
    schedule_settings: Callable[..., Settings], provider: StandInProvider
) -> None:
    settings = schedule_settings(**{"alerts.checkin_call_wait": "60s"})
    household = register(settings, {"010-3333-0004": ("cc-a", "mon-fri 10:00")})["010-3333-0004"]
    clock = ShiftedClock(seoul(9, 59, 59))  # the provider stays silent: this test reports
    with BackgroundService(settings, clock=clock) as service:
        call = wait_for(lambda: provider.calls_to("010-3333-0004"), what="the call")[0]
        wait_for(lambda: calls_of(service, household)[0].state is CallState.REQUESTED,
                 what="the call recorded as requested")
        body = json.dumps({"call_id": call["call_id"], "outcome": "asked_for_help"}).encode()
        for header in (sign(body, "not-the-secret"), "", "sha256=" + "0" * 64):
            forged = httpx.post(
                call["callback_url"], content=body, headers={SIGNATURE_HEADER: header}
            )
            assert forged.status_code == 401
        stored = calls_of(service, household)[0]
        assert stored.state is CallState.REQUESTED and stored.outcome is None
        assert service.store.list_alerts(households=[household]) == []
        # Positive control: the very same body, signed with the shared secret.
        signed = httpx.post(
            call["callback_url"], content=body, headers={SIGNATURE_HEADER: sign(body, SECRET)}
        )
        assert signed.status_code == 200 and signed.json()["scheduled"] is True
        assert signed.json()["state"] == "open"
        [sos] = service.store.list_alerts(households=[household])
        assert sos.kind == "sos" and sos.severity == "critical"
        assert calls_of(service, household)[0].outcome == "asked_for_help"
        again = httpx.post(
            call["callback_url"], content=body, headers={SIGNATURE_HEADER: sign(body, SECRET)}
        )
        assert again.json()["duplicate"] is True
        assert len(service.store.list_alerts(households=[household])) == 1


def test_a_restart_or_a_second_service_does_not_place_a_call_twice(
    schedule_settings: Callable[..., Settings], provider: StandInProvider
) -> None:
    """A call placed before a restart is not placed again after it; a call whose time came
    while no service ran is placed late, once, within the late limit (2 h), and not beyond
    it; two services on one PostgreSQL store place a call once."""
    first = schedule_settings()

    def other(group: str) -> Settings:
        """The same topics and store; its own callback port and consumer group."""
        section = first.alerts.model_copy(
            update={"group_id": group, "voicebot_callback_port": free_port()}
        )
        return first.model_copy(update={"alerts": section})

    phones = {
        "010-3333-0005": ("cc-a", "daily 10:00"),  # placed before the restart
        "010-3333-0006": ("cc-a", "daily 10:02"),  # due while no service ran: placed late
        "010-3333-0007": ("cc-a", "daily 07:30"),  # 2.5 h before: beyond the late limit
        "010-3333-0008": ("cc-b", "daily 10:03"),  # due while two services run
    }
    ids = register(first, phones)
    for phone in phones:
        provider.outcomes[phone] = "answered_well"
    clock = ShiftedClock(seoul(9, 59, 59))
    with BackgroundService(first, clock=clock) as service:
        wait_for(lambda: provider.calls_to("010-3333-0005"), what="the 10:00 call")
        done(service, ids["010-3333-0005"], 1)
    clock.set(seoul(10, 2, 30))
    second = BackgroundService(other(first.alerts.group_id), clock=clock)
    third = BackgroundService(other("anbu-alerts-2"), clock=clock)
    try:
        service = second.start()
        third.start()
        late = wait_for(lambda: provider.calls_to("010-3333-0006"), what="the late call")
        assert len(late) == 1
        placed = done(service, ids["010-3333-0006"], 1)
        assert in_seoul(placed[0].due_at) == seoul(10, 2)
        clock.set(seoul(10, 2, 59.5))
        wait_for(lambda: provider.calls_to("010-3333-0008"), what="the 10:03 call")
        done(service, ids["010-3333-0008"], 1)
        time.sleep(1.0)  # five more polls of each service
        counts = {phone: len(provider.calls_to(phone)) for phone in phones}
        assert counts == {
            "010-3333-0005": 1,
            "010-3333-0006": 1,
            "010-3333-0007": 0,
            "010-3333-0008": 1,
        }
        rows = {hh: calls_of(service, hh) for hh in ids.values()}
        assert [len(r) for r in rows.values()] == [1, 1, 0, 1]
    finally:
        third.stop()
        second.stop()


def test_calls_missed_while_down_are_caught_up_at_start_but_a_new_schedule_waits(
    tmp_path: Path, provider: StandInProvider
) -> None:
    """Which call times come due (the scheduler's own clock; no call is placed here)."""
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.sqlite3'}")
    directory = StaticDirectory(schedules={"hh-1": "daily 10:00", "hh-2": "daily 08:30"})
    clock = ShiftedClock(seoul(11, 0))
    scheduler = CheckinScheduler(
        CheckinCalls(store),
        Lifecycle(store, directory, Channels()),
        directory,
        VoicebotNotifier(directory, provider.url(), SECRET, None),
        clock=clock,
        catch_up_s=0.5,
    )
    # at start: 10:00 is an hour late, within the limit; 08:30 is 2.5 h late, beyond it
    assert scheduler.due_now() == [("hh-1", seoul(10, 0))]
    assert scheduler.due_now() == []
    time.sleep(0.6)
    # set at 11:00, a schedule naming 10:30 begins with tomorrow's call
    directory.schedules["hh-3"] = "daily 10:30"
    assert scheduler.due_now() == []
    tomorrow = seoul(10, 0) + timedelta(days=1)
    clock.set(tomorrow + timedelta(seconds=1))
    assert scheduler.due_now() == [("hh-2", tomorrow - timedelta(minutes=90)), ("hh-1", tomorrow)]
    clock.set(tomorrow + timedelta(minutes=30, seconds=1))
    assert scheduler.due_now() == [("hh-3", tomorrow + timedelta(minutes=30))]
    assert provider.calls == []
    store.close()
