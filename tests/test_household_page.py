"""The household page a care worker opens from an alert, in real Chromium on a phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from alerts.model import AlertState
from anbu.events import AlertKind
from anbu.stack.services import free_port
from config import Settings
from tests.kit.household import (
    PHONE,
    raise_alert,
    seed,
    sign_in,
    sign_in_to_inbox,
    staff_token,
    write_routine,
)
from web.app import create_app


def test_staff_opens_household_from_alert_and_acknowledges_other_center_gets_404(
    settings: Settings,
    web_server: str,
    browser: Any,
    artifacts_dir: Path,
) -> None:
    households, operator = seed(settings)
    hh_a = households["cc-a"]
    assert write_routine(settings, hh_a) > 0
    store, event = raise_alert(
        settings,
        hh_a,
        AlertKind.INACTIVITY_ROUTINE,
        reason="No activity for 10 h, usually active by 07:00",
        reason_ko="평소 07시면 활동하는데 10시간째 활동이 없습니다",
    )
    url = f"{web_server}/inbox/households/{hh_a}"

    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    page = context.new_page()
    sign_in_to_inbox(page, web_server, "kim.bokji")
    card = page.locator(f'li.alert[data-alert-id="{event.alert_id}"]')
    card.wait_for(timeout=20_000)
    # From the alert's card to its household.
    card.locator('a[data-role="household-link"]').click()
    page.wait_for_url(f"{url}?*")
    assert page.locator("#alert").get_attribute("data-alert-id") == event.alert_id
    assert "평소 07시면 활동하는데 10시간째 활동이 없습니다" in page.inner_text("#reason")
    assert "박순자" in page.inner_text('[data-role="resident"]')
    contacts = page.locator('[data-role="contact"]').all_inner_texts()
    assert len(contacts) == 2 and "이영희" in contacts[0] and "딸" in contacts[0]
    assert "010-1234-5678" in contacts[0]
    assert page.locator('a.call[href="tel:010-1234-5678"]').count() == 1
    grid = page.locator("#activity svg.week-grid")
    # The shown week's active hours, and the silent morning flagged against the usual.
    assert int(grid.get_attribute("data-total") or 0) > 0
    assert int(grid.get_attribute("data-quiet") or 0) > 0
    assert page.locator("#alerts li[data-alert-id]").count() == 1
    # Device health: the silent, nearly flat door sensor first, marked.
    devices = page.locator("#devices li[data-device-id]")
    assert devices.count() == 2 and "현관문 센서" in devices.nth(0).inner_text()
    assert devices.nth(0).get_attribute("data-device-id") == "door-1"
    assert "bad" in (devices.nth(0).get_attribute("class") or "")
    assert "bad" not in (devices.nth(1).get_attribute("class") or "")
    # Phone layout: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "household-ko.png"), full_page=True)

    page.fill("#alert textarea", "딸과 통화, 방문 출발")
    page.click('#alert button[data-action="acknowledge"]')
    page.wait_for_selector('#alert[data-state="acknowledged"]')
    acked = store.get(event.alert_id)
    assert acked.state is AlertState.ACKNOWLEDGED
    assert acked.acked_by == "김복지 (kim.bokji)" and acked.ack_note == "딸과 통화, 방문 출발"
    assert "김복지 (kim.bokji)" in page.inner_text("#alert")

    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "usually active by 07:00" in page.inner_text("#reason")
    assert "Contacts" in page.inner_text("#people") and "Acknowledged" in page.inner_text("#alert")
    page.screenshot(path=str(artifacts_dir / "household-en.png"), full_page=True)
    # The inbox's switch and this page's agree: the language is remembered per browser.
    page.goto(url)
    page.wait_for_function("document.documentElement.lang === 'en'")
    context.close()

    # Staff of another center: 404, and no personal data on the answer.
    other = browser.new_context(viewport=PHONE, locale="ko-KR")
    page = other.new_page()
    page.goto(url)
    assert "/signin" in page.url
    sign_in(page, "lee.b")
    page.wait_for_url(url)  # signed in, sent back to where the link pointed
    answer = page.goto(url)
    assert answer is not None and answer.status == 404
    assert "박순자" not in page.content() and "010-1234-5678" not in page.content()
    # Positive control: the same person sees their own center's household.
    own = page.goto(f"{web_server}/inbox/households/{households['cc-b']}")
    assert own is not None and own.status == 200
    other.close()

    # Operators see every center's numbers, never personal data.
    refused = httpx.get(url, headers={"Authorization": f"Bearer {operator}"})
    assert refused.status_code == 404 and "박순자" not in refused.text
    store.close()


def test_page_opens_without_influxdb_and_says_activity_is_missing(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings({"influx.url": f"http://127.0.0.1:{free_port()}"})
    households, _ = seed(settings)
    token = staff_token(settings)
    with TestClient(create_app(settings)) as client:
        page = client.get(
            f"/inbox/households/{households['cc-a']}", headers={"Authorization": f"Bearer {token}"}
        )
        # Personal data from the registry still shows; the activity box says why it is empty.
        assert page.status_code == 200 and "박순자" in page.text
        assert "활동 기록을 불러오지 못했습니다" in page.text and "week-grid" not in page.text
        # Without a session: the sign-in page, coming back here afterwards.
        anonymous = client.get(f"/inbox/households/{households['cc-a']}", follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/signin?next=/inbox/households/")
