"""The scheduled check-in calls on the household page, in real Chromium on a phone.

The calls are recorded in the alert store the way the alerts service records them (claim,
requested, the provider's report or the wait running out: :class:`CheckinCalls`); the page
is served by the whole web app. Screenshots: test-artifacts/household-calls-ko.png,
household-calls-en.png, household-no-calls-ko.png.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from alerts.checkin_calls import CallState, CheckinCalls, ScheduledCall
from alerts.checkin_summary import CallStatus, call_status, call_summary, missed_in_row
from alerts.store import AlertStore
from anbu.call_schedule import parse_call_schedule
from anbu.events import AlertKind
from anbu.timeutil import SEOUL, in_seoul, utcnow
from config import Settings
from devices import service as registry
from devices.db import init_db, session_factory
from devices.schemas import HouseholdPatch
from tests.kit.household import PHONE, open_signed_in, raise_alert, seed, write_routine
from web.i18n import schedule_words

SCHEDULE = "mon-fri 10:00"
# oldest first: what the provider reported on the household's last five calls
OUTCOMES = ["asked_for_help", "answered_well", "unreachable", "no_answer", None]


@pytest.mark.parametrize(
    ("text", "ko", "en"),
    [
        ("mon-fri 10:00", "평일 10:00", "weekdays 10:00"),
        ("daily 09:30", "매일 09:30", "daily 09:30"),
        ("sat,sun 11:00", "주말 11:00", "weekends 11:00"),
        ("mon,wed,fri 10:00,16:30; sat 11:00", "월·수·금 10:00, 16:30; 토 11:00",
         "Mon, Wed, Fri 10:00, 16:30; Sat 11:00"),
        ("tue-thu 10:00", "화~목 10:00", "Tue–Thu 10:00"),
        ("fri-mon 08:00", "월·금~일 08:00", "Mon, Fri–Sun 08:00"),
    ],
)
def test_a_schedule_reads_in_words_in_both_languages(text: str, ko: str, en: str) -> None:
    schedule = parse_call_schedule(text)
    assert schedule_words(schedule, "ko") == ko
    assert schedule_words(schedule, "en") == en


def _call(day: int, state: CallState, outcome: str | None) -> ScheduledCall:
    return ScheduledCall(
        id=f"c{day}",
        household_id="h",
        care_center_id="cc",
        due_at=datetime(2026, 12, day + 1, 10, tzinfo=SEOUL),
        state=state,
        outcome=outcome,
        attempts=1,
        requested_at=None,
        finished_at=None,
        evaluated=True,
        alert_id=None,
        last_error=None,
    )


def test_missed_in_a_row_counts_from_the_latest_known_outcome() -> None:
    done, missed = CallState.DONE, ["no_answer", "unreachable", "no_report"]
    older = [_call(1, done, "answered_well"), _call(0, done, "no_answer")]
    latest_first = [_call(4 - i, done, outcome) for i, outcome in enumerate(missed)] + older
    assert missed_in_row(latest_first) == 3
    # a call still waiting and one never placed do not end the run, nor count in it
    waiting = _call(9, CallState.REQUESTED, None)
    not_made = _call(8, CallState.NOT_MADE, None)
    assert missed_in_row([waiting, not_made, *latest_first]) == 3
    # an answer ends it; asking for help is no missed call either
    assert missed_in_row([_call(9, done, "answered_well"), *latest_first]) == 0
    assert missed_in_row([_call(9, done, "asked_for_help"), *latest_first]) == 0
    assert missed_in_row([]) == 0


def test_the_summary_shows_waiting_and_unplaced_calls_and_no_schedule_has_no_next_call(
    settings: Settings,
) -> None:
    store = AlertStore.from_settings(settings)
    calls = CheckinCalls(store)
    now = utcnow()
    schedule = parse_call_schedule("daily 10:00")
    missed, unplaced, waiting = schedule.due_between(now - timedelta(days=3), now)[-3:]
    first = calls.claim("hh-1", "cc-a", missed, missed, 60.0)
    second = calls.claim("hh-1", "cc-a", unplaced, unplaced, 60.0)
    third = calls.claim("hh-1", "cc-a", waiting, waiting, 60.0)
    assert first and second and third
    calls.requested(first, missed)
    assert calls.report(first, "no_answer", missed + timedelta(minutes=1))
    calls.failed(second, unplaced, "no phone number in the registry", None)  # given up
    calls.requested(third, waiting)
    summary = call_summary(store, "hh-1", "daily 10:00", now)
    assert [call_status(c) for c in summary.calls] == [
        CallStatus.WAITING, CallStatus.NOT_MADE, CallStatus.NO_ANSWER
    ]
    # neither the waiting call nor the one never placed hides the missed one
    assert summary.missed_in_row == 1
    assert summary.next_call == schedule.next_after(now)
    # control: the same calls without a schedule (it was cleared) have no next call
    cleared = call_summary(store, "hh-1", None, now)
    assert cleared.next_call is None and cleared.schedule is None and len(cleared.calls) == 3
    assert call_summary(store, "hh-other", "daily 10:00", now).calls == []
    store.close()


def record_calls(settings: Settings, household: str, schedule: str) -> list[datetime]:
    """The household's last calls, as the alerts service records them; their times."""
    now = utcnow()
    due = parse_call_schedule(schedule).due_between(now - timedelta(days=10), now)
    due = due[-len(OUTCOMES):]
    store = AlertStore.from_settings(settings)
    calls = CheckinCalls(store)
    for at, outcome in zip(due, OUTCOMES, strict=True):
        call_id = calls.claim(household, "cc-a", at, at, 60.0)
        assert call_id is not None
        calls.requested(call_id, at + timedelta(seconds=5))
        if outcome is None:  # the provider never reported: missed when the wait is over
            assert calls.expire(at + timedelta(minutes=31), 1800.0) == 1
        else:
            assert calls.report(call_id, outcome, at + timedelta(minutes=1))
    store.close()
    return due


def set_schedule(settings: Settings, household: str, schedule: str) -> None:
    engine = init_db(settings)
    with session_factory(engine)() as session:
        assert isinstance(session, Session)
        registry.update_household(
            session, household, HouseholdPatch.model_validate({"checkin_schedule": schedule})
        )
        session.commit()
    engine.dispose()


def day_when(moment: datetime, days: list[str]) -> str:
    local = in_seoul(moment)
    return f"{local:%m-%d} ({days[local.weekday()]}) {local:%H:%M}"


KO_DAYS = ["월", "화", "수", "목", "금", "토", "일"]
EN_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_care_worker_sees_the_households_calls_and_a_household_without_calls_says_so(
    settings: Settings,
    web_server: str,
    browser: Any,
    artifacts_dir: Path,
) -> None:
    households, _ = seed(settings)
    household, unscheduled = households["cc-a"], households["cc-b"]
    assert write_routine(settings, household) > 0  # the page as on a real day
    set_schedule(settings, household, " Mon-Fri 10:00")
    due = record_calls(settings, household, SCHEDULE)
    store, _ = raise_alert(
        settings,
        household,
        AlertKind.CHECKIN_MISSED,
        reason="2 scheduled check-in calls in a row not answered",
        reason_ko="정기 안부 전화 2회 연속 미응답",
    )
    # the page's own query, beside what the page shows
    before = utcnow()
    summary = call_summary(store, household, SCHEDULE, before)
    store.close()
    assert summary.missed_in_row == 3 and [c.due_at for c in summary.calls] == due[::-1]
    schedule = parse_call_schedule(SCHEDULE)

    url = f"{web_server}/inbox/households/{household}"
    context, page = open_signed_in(browser, url, "kim.bokji")
    after = utcnow()
    calls = page.locator("#calls")
    assert page.inner_text("#call-schedule") == "평일 10:00"
    assert page.inner_text("#next-call") in {
        day_when(schedule.next_after(before), KO_DAYS),
        day_when(schedule.next_after(after), KO_DAYS),
    }
    assert page.locator("#no-call-schedule").count() == 0
    assert page.inner_text("#missed-in-row") == "연속 미응답 3회"
    assert "warn" in (page.locator("#missed-in-row").get_attribute("class") or "")
    rows = page.locator("#call-list li[data-call-id]")
    assert rows.count() == 5
    # latest first, Seoul time with the weekday, the outcome in words
    expected = ["결과 보고 없음", "받지 않음", "연결 안 됨 (번호 불통)", "괜찮다고 응답",
                "도움 요청"]
    for i, (at, words) in enumerate(zip(due[::-1], expected, strict=True)):
        assert rows.nth(i).inner_text() == f"{day_when(at, KO_DAYS)} · {words}"
    assert rows.nth(0).get_attribute("data-status") == "no_report"
    assert "2회 연속 미응답이면 알림이 열립니다" in calls.inner_text()
    # the resident's number is on the page (the call button), never in the calls
    assert page.locator('a.call[href="tel:010-2222-3333"]').count() == 1
    assert "010-2222-3333" not in calls.inner_html()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "household-calls-ko.png"), full_page=True)

    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.inner_text("#call-schedule") == "weekdays 10:00"
    assert page.inner_text("#missed-in-row") == "3 missed in a row"
    english = ["no report", "no answer", "number unreachable", "answered well", "asked for help"]
    for i, (at, words) in enumerate(zip(due[::-1], english, strict=True)):
        assert rows.nth(i).inner_text() == f"{day_when(at, EN_DAYS)} · {words}"
    assert page.inner_text("#next-call").split(" (")[1][:3] in EN_DAYS
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "household-calls-en.png"), full_page=True)
    context.close()

    # Control: a household with no schedule (and no calls) says so, in both languages.
    plain = f"{web_server}/inbox/households/{unscheduled}"
    other, page = open_signed_in(browser, plain, "lee.b")
    assert page.inner_text("#no-call-schedule") == "정기 안부 전화 일정이 없습니다."
    assert page.locator("#call-list").count() == 0
    assert page.locator("#next-call").count() == 0
    page.locator("#calls").screenshot(path=str(artifacts_dir / "household-no-calls-ko.png"))
    page.goto(plain + "?lang=en")
    assert page.inner_text("#no-call-schedule") == "No scheduled calls."
    # ... and the other center's calls are not reachable from here: 404, nothing shown
    answer = page.goto(url)
    assert answer is not None and answer.status == 404
    assert "도움 요청" not in page.content()
    other.close()
