"""Signing in with a personal account in real Chromium: lock-out after five wrong passwords,
the session cookie's flags, sign-out, and the audit trail of registry changes made by a person."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from devices.accounts import MAX_FAILURES, AuditEntry
from devices.db import init_db
from tests.kit.web import ADMIN_PASSWORD, make_admin, serving, sign_in


def test_five_wrong_passwords_lock_the_account(
    settings: Settings, web_server: str, browser: Any, artifacts_dir: Path
) -> None:
    make_admin(settings, "lee.admin")
    for lang in ("ko", "en"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
        page = context.new_page()
        page.goto(f"{web_server}/signin?lang={lang}")
        page.screenshot(path=str(artifacts_dir / f"signin-{lang}.png"), full_page=True)
        context.close()

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
    page = context.new_page()
    # Positive control: the right password signs in, with a cookie scripts cannot read.
    page.goto(f"{web_server}/signin")
    sign_in(page, "lee.admin", ADMIN_PASSWORD)
    page.wait_for_url(f"{web_server}/")
    cookie = next(c for c in context.cookies() if c["name"] == "anbu_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert page.evaluate("document.cookie").find("anbu_session") == -1
    page.goto(f"{web_server}/signout")
    assert "/signin" in page.url
    assert not [c for c in context.cookies() if c["name"] == "anbu_session"]
    page.goto(f"{web_server}/devices")
    assert "/signin" in page.url  # signed out means signed out

    for attempt in range(1, MAX_FAILURES + 1):
        sign_in(page, "lee.admin", f"wrong password {attempt}")
        error = page.inner_text("#signin-error")
        if attempt < MAX_FAILURES:
            assert "틀렸습니다" in error, error
        else:
            assert "잠겼습니다" in error, error
    page.screenshot(path=str(artifacts_dir / "signin-locked-ko.png"), full_page=True)
    # Locked: the right password is refused too, and no session is handed out.
    sign_in(page, "lee.admin", ADMIN_PASSWORD)
    assert "잠겼습니다" in page.inner_text("#signin-error")
    assert "/signin" in page.url
    assert not [c for c in context.cookies() if c["name"] == "anbu_session"]
    answer = httpx.post(f"{web_server}/api/v1/session",
                        json={"username": "lee.admin", "password": ADMIN_PASSWORD}, timeout=30)
    assert answer.status_code == 423 and answer.json()["detail"]["error"] == "locked"
    page.goto(f"{web_server}/signin?lang=en")
    sign_in(page, "lee.admin", ADMIN_PASSWORD)
    assert "locked until" in page.inner_text("#signin-error")
    page.screenshot(path=str(artifacts_dir / "signin-locked-en.png"), full_page=True)
    context.close()


def test_registry_changes_record_the_person(settings: Settings, web_server: str) -> None:
    make_admin(settings, "choi.admin")
    with httpx.Client(base_url=web_server, timeout=30) as client:
        bad = client.post("/api/v1/session", json={"username": "choi.admin", "password": "x"})
        assert bad.status_code == 401
        assert client.post("/api/v1/centers", json={
            "care_center_id": "cc-z", "name": "Z", "dongs": ["a-dong"]}).status_code == 401
        signed = client.post("/api/v1/session",
                             json={"username": "choi.admin", "password": ADMIN_PASSWORD})
        assert signed.status_code == 204 and "anbu_session" in client.cookies
        made = client.post("/api/v1/centers", json={
            "care_center_id": "cc-z", "name": "Z", "dongs": ["a-dong"]})
        assert made.status_code == 201, made.text
        assert client.get("/api/v1/whoami").json()["name"] == "한관리 (choi.admin)"
        assert client.delete("/api/v1/session").status_code == 204
        assert client.get("/api/v1/whoami").status_code == 401
    with Session(init_db(settings)) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action, e.subject, e.status) for e in entries] == [
        ("한관리 (choi.admin)", "POST", "/api/v1/centers", 201)
    ]


def test_session_cookie_is_secure_over_tls(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    make_admin(settings, "tls.admin")
    body = {"username": "tls.admin", "password": ADMIN_PASSWORD}
    app = create_app(settings)
    for base, secure in (("https://anbu.test", True), ("http://anbu.test", False)):
        with TestClient(app, base_url=base) as client:
            answer = client.post("/api/v1/session", json=body)
            assert answer.status_code == 204
            cookie = next(c.lower() for c in answer.headers.get_list("set-cookie")
                          if c.startswith("anbu_session="))
            assert "httponly" in cookie and "samesite=lax" in cookie
            assert ("secure" in cookie.split("; ")) is secure, cookie


def test_sign_ins_are_limited_per_client_address(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    make_admin(settings, "rate.admin")
    web = settings.web.model_copy(update={"signin_rate": "3/minute"})
    app = create_app(settings.model_copy(update={"web": web}))
    right = {"username": "rate.admin", "password": ADMIN_PASSWORD}
    wrong = {"username": "someone.else", "password": "guess"}
    # One web process (one lifespan) seen from two addresses: a second `with` would run the
    # app's start-up and shut-down twice over one set of module-wide Kafka clients.
    neighbour = TestClient(app, client=("198.51.100.9", 40000))
    with TestClient(app, client=("203.0.113.7", 40000)) as sweeper:
        # A sweep over accounts from one address: three tries, then 429 for a while.
        for _ in range(3):
            assert sweeper.post("/api/v1/session", json=wrong).status_code == 401
        throttled = sweeper.post("/api/v1/session", json=right)
        assert throttled.status_code == 429
        assert throttled.json()["detail"]["error"] == "throttled"
        assert 0 < int(throttled.headers["retry-after"]) <= 60
        assert "anbu_session" not in sweeper.cookies  # the right password was not even checked
        form = sweeper.post("/signin", data=right, follow_redirects=False)
        assert form.status_code == 429 and "로그인 시도가 너무 많습니다" in form.text
        assert "retry-after" in form.headers
        # Positive control: another address signs in, so the account itself is not locked.
        assert neighbour.post("/api/v1/session", json=right).status_code == 204


def test_the_inbox_and_the_form_say_when_an_address_tried_too_often(
    settings: Settings, browser: Any, artifacts_dir: Path
) -> None:
    make_admin(settings, "busy.admin")
    web = settings.web.model_copy(update={"signin_rate": "2/minute"})
    with serving(settings.model_copy(update={"web": web})) as url:
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
        page = context.new_page()
        page.goto(f"{url}/inbox")
        page.wait_for_selector("#login:not([hidden])")
        for attempt in (1, 2):  # within the limit: the ordinary answer (positive control)
            page.fill("#username", "busy.admin")
            page.fill("#password", f"wrong {attempt}")
            page.click("#login-form button")
            page.wait_for_function("document.getElementById('login-error').textContent"
                                   ".includes('틀렸습니다')")
            page.evaluate("document.getElementById('login-error').textContent = ''")
        page.fill("#username", "busy.admin")
        page.fill("#password", ADMIN_PASSWORD)
        page.click("#login-form button")
        page.wait_for_function("document.getElementById('login-error').textContent"
                               ".includes('로그인 시도가 너무 많습니다')")
        assert re.search(r"\d+초 뒤에", page.inner_text("#login-error"))
        assert page.is_hidden("#inbox")  # the right password did not sign in
        page.screenshot(path=str(artifacts_dir / "alerts-inbox-throttled-ko.png"), full_page=True)
        page.goto(f"{url}/signin?lang=en")
        sign_in(page, "busy.admin", ADMIN_PASSWORD)
        assert "Too many sign-in attempts" in page.inner_text("#signin-error")
        page.screenshot(path=str(artifacts_dir / "signin-throttled-en.png"), full_page=True)
        context.close()
