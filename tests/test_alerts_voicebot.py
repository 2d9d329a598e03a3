"""Check-in calls through a voice-bot provider, against the real alerts service and registry.

The provider is a real HTTP server in this process: it takes the signed call request and then
POSTs a signed outcome to the service's callback endpoint, as a provider would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple

import httpx
import pytest

from alerts.model import AlertState
from alerts.notifiers.webhook import SIGNATURE_HEADER, sign
from alerts.service import AlertService
from anbu.events import AlertEvent, AlertKind, Severity
from anbu.stack.services import free_port
from config import Settings
from devices import equipment, residents
from devices import service as registry
from devices.unit_of_work import registry_session
from testkit.polling import wait_for
from tests.kit.alerts import HttpReceiver, alerts_running, make_event
from tests.kit.voicebot import SECRET, StandInProvider, voicebot_settings


def register(settings: Settings, phones: dict[str, str]) -> dict[str, str]:
    """Households without a robot, their resident's number in the registry only.

    Returns:
        household id by phone number.
    """
    ids: dict[str, str] = {}
    with registry_session(settings, publish=True, mqtt=False) as session:
        registry.create_care_center(session, "cc-v", "서구 복지관", dongs=["농성1동"])
        for phone, name in phones.items():
            household = registry.create_household(
                session, "cc-v", "농성1동", escalation_delays_s=[1, 600]
            )
            residents.add_resident(session, household.id, name, phone=phone, consent=True)
            residents.add_contact(session, household.id, 1, "사회복지사", email="w@cc-v.example")
            residents.add_contact(session, household.id, 2, "팀장", email="lead@cc-v.example")
            residents.add_contact(session, household.id, 3, "구청", email="gu@cc-v.example")
            ids[phone] = household.id
    return ids


class Called(NamedTuple):
    """One high alert raised, and the check-in call the service asked the provider for."""

    service: AlertService
    event: AlertEvent
    request: dict[str, Any]


CallFor = Callable[[tuple[str, str], str | None, AlertKind], AbstractContextManager[Called]]


@pytest.fixture
def call_for(call_settings: Settings, provider: StandInProvider) -> CallFor:
    """Calls ``call_for(resident, outcome, kind)``: one household as :func:`register` makes it
    for ``resident`` (phone, name), the alerts service running, a high alert of ``kind`` raised
    for the household, and the call request it made to the resident's phone.

    The provider reports ``outcome`` on calls to the resident (``None``: it stays silent).
    """

    @contextmanager
    def called(resident: tuple[str, str], outcome: str | None, kind: AlertKind) -> Iterator[Called]:
        phone, name = resident
        if outcome is not None:
            provider.outcomes[phone] = outcome
        household = register(call_settings, {phone: name})[phone]
        event = make_event(household, kind, severity=Severity.HIGH)
        with alerts_running(call_settings) as (service, producer):
            producer.send(event)
            request = wait_for(lambda: provider.calls_to(phone), what="the call request")[0]
            yield Called(service, event, request)

    return called


def closed_as_false_alarm(service: Any, alert_id: str) -> Any:
    """Wait until the alert is a false alarm; return it with its history."""
    return wait_for(
        lambda: (a := service.store.get(alert_id, full=True)).state is AlertState.FALSE_ALARM and a,
        what="the false alarm",
    )


def hooks(receiver: HttpReceiver, household: str) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.on("/hook") if r.json()["household_id"] == household]


def test_call_answered_well_closes_the_alert_as_a_false_alarm(
    call_for: CallFor, provider: StandInProvider, http_receiver: HttpReceiver
) -> None:
    with call_for(("010-2222-0001", "김순자"), "answered_well", AlertKind.INACTIVITY) as called:
        service, event, call = called
        assert "괜찮" in call["script_ko"] and "all right" in call["script_en"]
        assert call["callback_url"].endswith("/voicebot/callback")
        alert = closed_as_false_alarm(service, event.alert_id)
        assert alert.closed_by == "resident"
        assert alert.close_note == "voice-bot call answered: well"
        labels = [h.label.value for h in alert.history]
        assert labels == ["open", "checkin_requested", "false_alarm"]
        # Tier 1 was notified at once; nobody was woken at tier 2.
        time.sleep(1.5)
        assert [h["tier"] for h in hooks(http_receiver, event.household_id)] == [1]
        # The number went to the provider only, never into the alert store.
        assert "010-2222-0001" not in json.dumps(
            [h.note for h in alert.history] + [n.target for n in alert.notifications]
        )
    assert provider.reports == [
        (
            200,
            {
                "alert_id": event.alert_id,
                "state": "false_alarm",
                "duplicate": False,
                "ignored": None,
            },
        )
    ]


def test_asking_for_help_makes_it_critical_and_notifies_the_next_tier(
    call_for: CallFor, http_receiver: HttpReceiver
) -> None:
    with call_for(("010-2222-0002", "박영호"), "asked_for_help", AlertKind.NOT_BACK) as called:
        service, event, _ = called
        second = wait_for(
            lambda: [h for h in hooks(http_receiver, event.household_id) if h["tier"] == 2],
            timeout_s=10,
            what="the tier-2 webhook",
        )[0]
        assert second["severity"] == "critical" and second["type"] == "alert.escalated"
        alert = service.store.get(event.alert_id, full=True)
        assert alert.state is AlertState.OPEN and alert.severity == "critical"
        assert alert.tier == 2
        assert "asked for help" in alert.history[-1].note


def test_no_answer_escalates_at_once_and_silence_on_the_timeout(
    call_settings: Settings, provider: StandInProvider, http_receiver: HttpReceiver
) -> None:
    ids = register(call_settings, {"010-2222-0003": "이말순", "010-2222-0004": "최정수"})
    no_answer, silent = ids["010-2222-0003"], ids["010-2222-0004"]
    provider.outcomes["010-2222-0003"] = "no_answer"
    first = make_event(no_answer, AlertKind.INACTIVITY, severity=Severity.HIGH)
    second = make_event(silent, AlertKind.AWAY_OVERRUN, severity=Severity.HIGH)
    with alerts_running(call_settings) as (service, producer):
        producer.send(first, second)
        wait_for(lambda: provider.calls_to("010-2222-0003"), what="the first call")
        wait_for(lambda: provider.calls_to("010-2222-0004"), what="the second call")
        asked = {c["phone"]: time.monotonic() for c in provider.calls}
        wait_for(
            lambda: [h for h in hooks(http_receiver, no_answer) if h["tier"] == 2],
            timeout_s=10,
            what="escalation after no answer",
        )
        answered_at = time.monotonic()
        # "No answer" escalates at once, well before the 2 s wait for an outcome is over.
        assert answered_at - asked["010-2222-0003"] < 1.5
        assert not [h for h in hooks(http_receiver, silent) if h["tier"] == 2]
        wait_for(
            lambda: [h for h in hooks(http_receiver, silent) if h["tier"] == 2],
            timeout_s=10,
            what="escalation on the timeout",
        )
        # The silent provider's call waited its 2 s (voicebot_timeout) before tier 2.
        assert time.monotonic() - asked["010-2222-0004"] >= 1.5
        notes = [h.note for h in service.store.get(first.alert_id, full=True).history]
        assert "voice-bot call: no answer; escalated to tier 2" in notes


def test_a_forged_callback_changes_nothing_and_a_signed_one_does(call_for: CallFor) -> None:
    # the provider stays silent (outcome None): this test reports
    with call_for(("010-2222-0005", "정복례"), None, AlertKind.INACTIVITY_ROUTINE) as called:
        service, event, call = called
        before = service.store.get(event.alert_id, full=True)
        body = json.dumps({"call_id": call["call_id"], "outcome": "answered_well"}).encode()
        for header in (sign(body, "not-the-secret"), "", "sha256=" + "0" * 64):
            forged = httpx.post(
                call["callback_url"], content=body, headers={SIGNATURE_HEADER: header}
            )
            assert forged.status_code == 401
        after = service.store.get(event.alert_id, full=True)
        assert after.state is AlertState.OPEN
        assert len(after.history) == len(before.history) and after.tier == before.tier
        # Positive control: the very same body, signed with the shared secret, closes it.
        signed = httpx.post(
            call["callback_url"], content=body, headers={SIGNATURE_HEADER: sign(body, SECRET)}
        )
        assert signed.status_code == 200
        closed = service.store.get(event.alert_id, full=True)
        assert closed.state is AlertState.FALSE_ALARM
        assert closed.close_note == "voice-bot call answered: well"
        # A repeat of the report changes nothing more.
        again = httpx.post(
            call["callback_url"], content=body, headers={SIGNATURE_HEADER: sign(body, SECRET)}
        )
        assert again.json()["duplicate"] is True


# the robot waits 1 s for an answer before the call
@pytest.mark.parametrize("call_settings", [{"alerts.checkin_timeout": "1s"}], indirect=True)
def test_a_household_with_a_robot_is_called_only_after_the_robot_got_no_answer(
    call_settings: Settings, provider: StandInProvider, http_receiver: HttpReceiver
) -> None:
    ids = register(call_settings, {"010-2222-0006": "한옥자"})
    household = ids["010-2222-0006"]
    with registry_session(call_settings, publish=True, mqtt=False) as session:
        equipment.add_device(session, household, "robot", "anbu", f"anbu/gw-{household}/robot")
    provider.outcomes["010-2222-0006"] = "answered_well"
    event = make_event(household, AlertKind.INACTIVITY, severity=Severity.HIGH)
    with alerts_running(call_settings) as (service, producer):
        producer.send(event)
        wait_for(lambda: provider.calls_to("010-2222-0006"), what="the call request")
        alert = closed_as_false_alarm(service, event.alert_id)
        asked = [h for h in alert.history if h.label.value == "checkin_requested"]
        # The robot first; the call only once its 1 s wait for an answer was over.
        assert [h.note.split(";")[0] for h in asked] == [
            "asked the care robot to check in",
            "asked the voice bot to call the resident",
        ]
        assert (asked[1].at - asked[0].at).total_seconds() >= 0.9
        assert alert.close_note == "voice-bot call answered: well"


def test_no_number_or_no_provider_goes_on_at_once_with_the_reason_in_the_history(
    make_settings: Callable[..., Settings],
    http_receiver: HttpReceiver,
) -> None:
    """A call that cannot be made (no number in the registry; the provider refuses
    connections) holds nothing: tier 2 follows at once, not after the 60 s wait for an
    answer, and the history says why."""
    down = StandInProvider(port=free_port())  # nobody listens there: the provider is down
    settings = voicebot_settings(make_settings, down, http_receiver,
                                 **{"alerts.voicebot_timeout": "60s"})
    with registry_session(settings, publish=True, mqtt=False) as session:
        registry.create_care_center(session, "cc-v", "서구 복지관", dongs=["농성1동"])
        households = []
        for phone in (None, "010-2222-0009"):
            made = registry.create_household(
                session, "cc-v", "농성1동", escalation_delays_s=[1, 600]
            )
            residents.add_resident(session, made.id, "정미자", phone=phone, consent=True)
            for tier in (1, 2, 3):
                residents.add_contact(session, made.id, tier, "담당", email="w@cc-v.example")
            households.append(made.id)
    no_number, unreachable = households
    events = [make_event(hh, AlertKind.INACTIVITY, severity=Severity.HIGH) for hh in households]
    with alerts_running(settings) as (service, producer):
        producer.send(*events)

        def tiers() -> set[tuple[str, int]]:
            return {(hh, h["tier"]) for hh in households for h in hooks(http_receiver, hh)}

        # tier 1 at once (the control: the alerts escalate as usual) ...
        wait_for(lambda: {(hh, 1) for hh in households} <= tiers(), what="tier 1")
        # ... and tier 2 well within the 60 s the call's answer would have been awaited
        wait_for(lambda: {(hh, 2) for hh in households} <= tiers(), timeout_s=15, what="tier 2")
        notes = {hh: [h.note for h in service.store.get(e.alert_id, full=True).history]
                 for hh, e in zip(households, events, strict=True)}
    for household in households:
        assert any(n.startswith("asked the voice bot to call") for n in notes[household])
        assert any(n.endswith("escalated to tier 2") for n in notes[household])
    assert any("voicebot call not made (the resident has no phone number" in n
               for n in notes[no_number]), notes[no_number]
    assert any("voicebot call not made (voice-bot provider:" in n
               for n in notes[unreachable]), notes[unreachable]
    assert "010-2222-0009" not in json.dumps(notes)  # the number is never kept
