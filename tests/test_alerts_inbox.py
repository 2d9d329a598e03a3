"""The care-center inbox: its API (who sees what, actions) and the page in real Chromium."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from alerts.directory import RegistryDirectory
from alerts.lifecycle import Channels, Lifecycle
from alerts.model import AlertState, NotificationStatus
from alerts.service import BackgroundService
from alerts.store import AlertStore
from anbu.events import AlertKind, Severity
from anbu.influx import InfluxClient, Point
from anbu.timeutil import utcnow
from config import Settings
from testkit.polling import wait_for
from tests.kit.alerts import EventProducer, make_event
from tests.kit.web import ADMIN_PASSWORD, auth, make_admin, seed_registry, sign_in
from web.app import create_app


def test_inbox_api_scopes_orders_and_records_actions(settings: Settings) -> None:
    seeded = seed_registry(settings)
    hh_a, hh_b = seeded.households["cc-a"], seeded.households["cc-b"]
    store = AlertStore.from_settings(settings)
    lifecycle = Lifecycle(store, RegistryDirectory.from_settings(settings), Channels())
    now = utcnow()
    quiet = make_event(hh_a, AlertKind.INACTIVITY, severity=Severity.HIGH, episode=now)
    sos = make_event(hh_a, AlertKind.SOS, episode=now - timedelta(minutes=5))
    other = make_event(hh_b, AlertKind.SOS, episode=now)
    for event in (quiet, sos, other):
        assert lifecycle.apply(event, utcnow()).created
    # The household's center and dong come from the registry.
    assert store.get(sos.alert_id).care_center_id == "cc-a"
    assert store.get(sos.alert_id).dong == "역삼1동"

    # A notification that could not be delivered is shown with its error.
    with store.transaction() as conn:
        failed = store.add_notification(conn, quiet.alert_id, 1, "sms", "sms:tier1", utcnow())
    assert failed is not None
    store.record_attempt(
        failed, utcnow(), status=NotificationStatus.FAILED, error="gateway answered 401"
    )

    influx = InfluxClient.from_settings(settings)
    influx.create_database()
    bucket = now.replace(second=0, microsecond=0) - timedelta(hours=2)
    influx.write(
        Point(
            "activity_5m",
            {"count": c},
            bucket + timedelta(minutes=5 * i),
            {"household": hh_a, "kind": k},
        )
        for i, (c, k) in enumerate([(3, "motion"), (4, "door"), (5, "power")])
    )

    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/alerts").status_code == 401
        assert client.get("/api/v1/alerts", headers=auth("anbu_nope")).status_code == 401

        staff_a = auth(seeded.tokens["cc-a"])
        listed = client.get("/api/v1/alerts", headers=staff_a).json()
        assert [a["id"] for a in listed["alerts"]] == [sos.alert_id, quiet.alert_id]
        assert listed["can_act"] is True
        shown = listed["alerts"][1]
        assert shown["failed_notifications"] == 1
        assert shown["notifications"][0]["last_error"] == "gateway answered 401"
        assert client.get(f"/api/v1/alerts/{other.alert_id}", headers=staff_a).status_code == 404
        refused = client.post(
            f"/api/v1/alerts/{other.alert_id}/acknowledge", headers=staff_a, json={"note": "x"}
        )
        assert refused.status_code == 404
        assert store.get(other.alert_id).state is AlertState.OPEN

        operator = auth(seeded.tokens["operator"])
        everything = client.get("/api/v1/alerts", headers=operator).json()
        assert {a["id"] for a in everything["alerts"]} == {
            sos.alert_id,
            quiet.alert_id,
            other.alert_id,
        }
        assert everything["can_act"] is False
        forbidden = client.post(
            f"/api/v1/alerts/{sos.alert_id}/acknowledge", headers=operator, json={}
        )
        assert forbidden.status_code == 403

        acked = client.post(
            f"/api/v1/alerts/{sos.alert_id}/acknowledge",
            headers=staff_a,
            json={"note": "전화 연결됨, 방문 중"},
        )
        assert acked.status_code == 200, acked.text
        body = acked.json()
        assert body["state"] == "acknowledged"
        assert body["acked_by"] == "김복지 (cc-a)" and body["ack_note"] == "전화 연결됨, 방문 중"
        assert body["next_escalation_at"] is None
        again = client.post(
            f"/api/v1/alerts/{sos.alert_id}/acknowledge", headers=staff_a, json={"note": ""}
        )
        assert again.status_code == 409 and "acknowledged" in again.text
        bad = client.post(
            f"/api/v1/alerts/{sos.alert_id}/resolve", headers=staff_a, json={"nope": 1}
        )
        assert bad.status_code == 422

        done = client.post(
            f"/api/v1/alerts/{sos.alert_id}/resolve",
            headers=staff_a,
            json={"note": "낙상, 병원 이송"},
        )
        assert done.json()["state"] == "resolved"
        fa = client.post(
            f"/api/v1/alerts/{quiet.alert_id}/false-alarm",
            headers=staff_a,
            json={"note": "자녀 집 방문 중"},
        )
        assert fa.json()["state"] == "false_alarm" and fa.json()["close_note"] == "자녀 집 방문 중"
        history = [
            h["label"]
            for h in client.get(f"/api/v1/alerts/{sos.alert_id}", headers=staff_a).json()["history"]
        ]
        assert history == ["open", "acknowledged", "resolved"]
        # Closed alerts stay listed (after the active ones) for the day.
        listed = client.get("/api/v1/alerts", headers=staff_a).json()["alerts"]
        assert [a["active"] for a in listed] == [False, False]

        svg = client.get(f"/api/v1/alerts/{quiet.alert_id}/activity.svg", headers=staff_a)
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert 'data-total="12"' in svg.text and "최근 24시간 활동 12건" in svg.text
        english = client.get(
            f"/api/v1/alerts/{quiet.alert_id}/activity.svg?lang=en", headers=staff_a
        )
        assert "Activity in the last 24 h: 12" in english.text

        # The page signs in with a token into an HTTP-only cookie.
        assert client.post("/api/v1/alerts/session", json={"token": "anbu_bad"}).status_code == 401
        signed = client.post("/api/v1/alerts/session", json={"token": seeded.tokens["cc-b"]})
        assert signed.status_code == 204 and "httponly" in signed.headers["set-cookie"].lower()
        mine = client.get("/api/v1/alerts").json()["alerts"]
        assert [a["id"] for a in mine] == [other.alert_id]
        page = client.get("/inbox")
        assert page.status_code == 200 and "안부 알림함" in page.text
        assert '"긴급 호출 (SOS)"' in page.text  # labels injected for the page
    store.close()


def test_admin_creates_staff_who_signs_in_and_acknowledges_under_their_name(
    settings: Settings,
    web_server: str,
    browser: Any,
    artifacts_dir: Path,
) -> None:
    seeded = seed_registry(settings, delays=(600, 600))
    make_admin(settings)
    # The admin creates the staff member's account on the accounts page.
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    admin = desk.new_page()
    admin.goto(f"{web_server}/accounts")
    assert "/signin" in admin.url
    sign_in(admin, "admin.han", ADMIN_PASSWORD)
    admin.wait_for_url(f"{web_server}/accounts")
    admin.fill("#new-account input[name=username]", "kim.bokji")
    admin.fill("#new-account input[name=display_name]", "김복지")
    admin.select_option("#new-account select[name=role]", "staff")
    admin.select_option("#new-account select[name=care_center_id]", "cc-a")
    admin.click("#new-account button[type=submit]")
    password = admin.inner_text("#issued-password").strip()
    assert len(password) >= 10
    row = admin.locator('#account-table tr[data-username="kim.bokji"]')
    assert "센터 직원" in row.inner_text() and "cc-a" in row.inner_text()
    admin.screenshot(path=str(artifacts_dir / "accounts-ko.png"), full_page=True)
    admin.goto(f"{web_server}/accounts?lang=en")
    assert "staff" in admin.locator('#account-table tr[data-username="kim.bokji"]').inner_text()
    admin.screenshot(path=str(artifacts_dir / "accounts-en.png"), full_page=True)
    desk.close()

    household = seeded.households["cc-a"]
    influx = InfluxClient.from_settings(settings)
    influx.create_database()
    start = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=20)
    influx.write(
        Point(
            "activity_5m",
            {"count": (i * 7) % 5 + 1},
            start + timedelta(minutes=5 * i),
            {"household": household, "kind": "motion"},
        )
        for i in range(0, 200, 3)
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
    page = context.new_page()
    producer = EventProducer(settings)
    with BackgroundService(settings) as service:
        page.goto(f"{web_server}/inbox")
        # The staff member signs in with the user name and password the admin handed over.
        page.wait_for_selector("#login:not([hidden])")
        page.screenshot(path=str(artifacts_dir / "alerts-inbox-signin-ko.png"), full_page=True)
        page.fill("#username", "kim.bokji")
        page.fill("#password", "not the password")
        page.click("#login-form button")
        page.wait_for_function(
            "document.getElementById('login-error').textContent.includes('틀렸습니다')")
        page.fill("#username", "kim.bokji")
        page.fill("#password", password)
        page.click("#login-form button")
        page.wait_for_selector("#inbox:not([hidden])")
        assert "김복지 (kim.bokji)" in page.inner_text("#viewer")
        assert page.locator("li.alert").count() == 0
        page.evaluate("window.__sameDocument = true")

        sos = make_event(
            household,
            AlertKind.SOS,
            reason="SOS button pressed on the care robot",
            reason_ko="돌봄 로봇의 SOS 버튼이 눌렸습니다",
        )
        producer.send(sos)
        card = page.locator(f'li.alert[data-alert-id="{sos.alert_id}"]')
        card.wait_for(timeout=20_000)
        # No reload happened: the marker set on the page is still there.
        assert page.evaluate("window.__sameDocument") is True
        assert "돌봄 로봇의 SOS 버튼이 눌렸습니다" in card.inner_text()
        assert "긴급 호출 (SOS)" in card.inner_text()
        card.locator(".chart svg").wait_for(timeout=10_000)
        assert int(card.locator(".chart svg").get_attribute("data-total") or 0) > 0
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts_dir / "alerts-inbox-ko.png"), full_page=True)

        card.locator("textarea").fill("전화 연결됨, 방문 출발")
        card.locator('button[data-action="acknowledge"]').click()
        wait_for(
            lambda: service.store.get(sos.alert_id).state is AlertState.ACKNOWLEDGED,
            what="the acknowledgement in the store",
        )
        page.wait_for_selector(
            f'li.alert[data-alert-id="{sos.alert_id}"][data-state="acknowledged"]'
        )
        acked = service.store.get(sos.alert_id)
        assert acked.acked_by == "김복지 (kim.bokji)" and acked.ack_note == "전화 연결됨, 방문 출발"
        assert "확인함" in card.inner_text()
        assert page.inner_text("header h1") == "안부 알림함"
        assert page.inner_text("#lang-switch") == "English"
        # The inbox shows who did it.
        assert any("김복지 (kim.bokji)" in line for line in card.locator(".meta").all_inner_texts())
        page.screenshot(
            path=str(artifacts_dir / "alerts-inbox-ko-acknowledged.png"), full_page=True
        )

        page.click("#lang-switch")
        page.wait_for_function("document.documentElement.lang === 'en'")
        card = page.locator(f'li.alert[data-alert-id="{sos.alert_id}"]')
        page.wait_for_function(
            "document.querySelector('li.alert .reason').textContent.includes('care robot')"
        )
        assert "Emergency call (SOS)" in card.inner_text()
        # The page's own words switch too (they come from the one table, anbu/i18n.toml).
        assert page.inner_text("header h1") == "anbu inbox"
        assert page.inner_text("#lang-switch") == "한국어"
        assert "Acknowledged" in card.inner_text() and "확인함" not in card.inner_text()
        page.screenshot(path=str(artifacts_dir / "alerts-inbox-en.png"), full_page=True)
        # The acknowledgement stopped escalation in the running service.
        time.sleep(0.5)
        assert service.store.get(sos.alert_id).next_escalation_at is None
    producer.close()
    context.close()
