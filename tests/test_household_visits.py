"""Recording a doorstep visit on the household page, in real Chromium on a phone.

Screenshots: test-artifacts/visit-form-ko.png, visit-error-ko.png, visit-recorded-ko.png,
visit-recorded-en.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerts.model import AlertState
from alerts.visits import VisitOutcome, list_visits
from anbu.events import AlertKind
from anbu.timeutil import in_seoul
from config import Settings
from tests.kit.household import PHONE, open_signed_in, raise_alert, seed, write_routine


def save_visit(page: Any, outcome: str, note: str) -> None:
    page.check(f'#visit-form input[name=outcome][value="{outcome}"]')
    page.fill("#visit-form textarea", note)
    page.click("#visit-form button[type=submit]")


def test_care_worker_records_visits_from_the_phone_and_seen_and_well_resolves_the_alert(
    settings: Settings,
    web_server: str,  # noqa: F811 - the fixture imported above
    browser: Any,
    artifacts_dir: Path,
) -> None:
    households, _ = seed(settings)
    household = households["cc-a"]
    assert write_routine(settings, household) > 0  # the page as on a real day: a week of activity
    store, event = raise_alert(
        settings,
        household,
        AlertKind.INACTIVITY,
        reason="No activity for 26 h",
        reason_ko="26시간째 활동이 없습니다",
    )
    url = f"{web_server}/inbox/households/{household}"

    context, page = open_signed_in(browser, url, "kim.bokji")
    form = page.locator("#visit-form")
    assert form.is_visible()
    assert "기록된 방문이 없습니다" in page.inner_text("#visits")
    choices = form.inner_text()
    assert "만나서 안부 확인 (양호)" in choices and "부재 (만나지 못함)" in choices
    page.screenshot(path=str(artifacts_dir / "visit-form-ko.png"), full_page=True)

    # A concern without a word about it is refused, and the page says why.
    save_visit(page, "concern", "")
    error = page.locator("#visit-form .error")
    error.wait_for(state="visible")
    page.wait_for_function(
        "document.querySelector('#visit-form .error').textContent.length > 0"
    )
    assert error.inner_text() == "우려 사항은 메모에 내용을 적어 주세요"  # in the page's language
    assert list_visits(store, households=[household]) == []
    page.locator("#visit").screenshot(path=str(artifacts_dir / "visit-error-ko.png"))

    # Nobody answered the door: the alert stays open, and the visit shows on it.
    save_visit(page, "not_home", "초인종 두 번, 응답 없음")
    page.wait_for_selector('#alert-visits li[data-outcome="not_home"]')
    assert page.locator("#alert").get_attribute("data-state") == "open"
    assert store.get(event.alert_id).state is AlertState.OPEN

    # Back an hour later: seen and well. The alert is resolved, with the visit as the reason.
    save_visit(page, "seen_well", "현관에서 만남. 식사 잘 하심")
    page.wait_for_selector('#alert[data-state="resolved"]')
    resolved = store.get(event.alert_id)
    assert resolved.state is AlertState.RESOLVED and resolved.closed_by == "김복지 (kim.bokji)"
    visits = list_visits(store, households=[household])
    assert [v.outcome for v in visits] == [VisitOutcome.SEEN_WELL, VisitOutcome.NOT_HOME]
    assert visits[0].id in (resolved.close_note or "")
    # Latest first, who recorded it, Seoul time, the note.
    rows = page.locator("#visits li[data-visit-id]")
    assert rows.count() == 2
    first = rows.nth(0).inner_text()
    assert "만나서 안부 확인 (양호)" in first and "김복지 (kim.bokji)" in first
    assert in_seoul(visits[0].at).strftime("%m-%d %H:%M") in first
    assert "현관에서 만남. 식사 잘 하심" in first
    assert "부재 (만나지 못함)" in rows.nth(1).inner_text()
    # both fell during the alert, so both show on it
    assert page.locator("#alert-visits li[data-visit-id]").count() == 2
    assert "해결됨" in page.inner_text("#alert")
    # the reason in the page's language
    assert "방문 기록: 만나서 안부 확인 (양호)" in page.inner_text("#alert")
    assert "doorstep visit" not in page.inner_text("#alert")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "visit-recorded-ko.png"), full_page=True)

    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "Seen and well" in page.inner_text("#visits")
    assert "Not at home" in page.inner_text("#visits")
    assert "Record a visit" in page.inner_text("#visit")
    assert "doorstep visit: seen and well" in page.inner_text("#alert")
    page.screenshot(path=str(artifacts_dir / "visit-recorded-en.png"), full_page=True)
    context.close()

    # Staff of another center cannot see the form or the visits: 404.
    other, page = open_signed_in(browser, url, "lee.b")
    answer = page.goto(url)
    assert answer is not None and answer.status == 404
    assert "현관에서 만남" not in page.content()
    other.close()
    store.close()
