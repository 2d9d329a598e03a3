"""A household with an alert, routine and contacts, seeded for the household page's tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from alerts.directory import RegistryDirectory
from alerts.lifecycle import Channels, Lifecycle
from alerts.store import AlertStore
from anbu.events import AlertEvent, AlertKind, Severity
from anbu.influx import InfluxClient, Point
from anbu.timeutil import in_seoul, utcnow
from config import Settings
from devices import residents
from devices import service as registry
from devices import tokens as registry_tokens
from devices.accounts import create_account
from devices.db import init_db, session_factory
from devices.principals import Principal, Role
from tests.kit.alerts import make_event
from timeseries.schema import DEVICE_HEALTH, HEALTH_RP, ensure_schema

PASSWORD = "staff password 1"

PHONE = {"width": 390, "height": 844}


def seed(settings: Settings) -> tuple[dict[str, str], str]:
    """Two centers with a household each; a staff account in each; an operator token."""
    engine = init_db(settings)
    households: dict[str, str] = {}
    bootstrap = Principal("bootstrap", Role.ADMIN, None, "bootstrap")
    with session_factory(engine)() as session:
        assert isinstance(session, Session)
        centers = (("cc-a", "역삼1동", "kim.bokji"), ("cc-b", "청운효자동", "lee.b"))
        for center, dong, staff in centers:
            registry.create_care_center(
                session, center, f"{dong} 복지관", dongs=[dong], duty_phone="02-555-0100"
            )
            household = registry.create_household(
                session, center, dong, address=f"서울 {dong} 12-3, 101호", checkin_enabled=False
            )
            households[center] = household.id
            create_account(session, bootstrap, username=staff, display_name="김복지",
                           role="staff", care_center_id=center, password=PASSWORD)
        residents.add_resident(session, households["cc-a"], "박순자", phone="010-2222-3333")
        residents.add_contact(session, households["cc-a"], 1, "이영희", relation="딸",
                             phone="010-1234-5678")
        residents.add_contact(session, households["cc-a"], 2, "동 주민센터", phone="02-2222-0000")
        _, operator = registry_tokens.create_token(session, Role.OPERATOR, name="구청 운영")
        session.commit()
    engine.dispose()
    return households, operator


def staff_token(settings: Settings, center: str = "cc-a") -> str:
    """A bearer token of a staff member of ``center``, in the registry :func:`seed` made."""
    engine = init_db(settings)
    with session_factory(engine)() as session:
        assert isinstance(session, Session)
        _, token = registry_tokens.create_token(
            session, Role.STAFF, name="김복지", care_center_id=center
        )
        session.commit()
    engine.dispose()
    return token


def write_routine(settings: Settings, household: str) -> int:
    """Four weeks of a resident active 07-21 Seoul time, silent for the last 10 hours.

    Returns the hours written in the shown week that fall in the usual active hours.
    """
    influx = InfluxClient.from_settings(settings)
    influx.create_database()
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    points = []
    for hours_back in range(10, 28 * 24):
        moment = now - timedelta(hours=hours_back)
        if 7 <= in_seoul(moment).hour <= 21:
            tags = {"household": household, "kind": "motion"}
            points.append(Point("activity_5m", {"count": 3}, moment, tags))
    influx.write(points)
    ensure_schema(influx)
    stamp = utcnow().timestamp()
    health = [
        ("motion-1", "motion", "거실", True, stamp - 120, 80.0),
        ("door-1", "door", "현관", False, stamp - 3 * 3600, 12.0),
    ]
    influx.write(
        (
            Point(
                DEVICE_HEALTH,
                {"online": online, "last_seen": int(seen), "silent_s": int(stamp - seen),
                 "battery": battery, "low_battery": battery < 20, "reporting_interval_s": 3600,
                 "room": room, "dong": "역삼1동", "care_center": "cc-a"},
                utcnow(),
                {"household": household, "device": device, "kind": kind},
            )
            for device, kind, room, online, seen, battery in health
        ),
        retention_policy=HEALTH_RP,
    )
    influx.close()
    return len(points)


def raise_alert(
    settings: Settings, household: str, kind: AlertKind, *, reason: str, reason_ko: str
) -> tuple[AlertStore, AlertEvent]:
    """Open a high alert for ``household`` through the lifecycle; the store and the event."""
    store = AlertStore.from_settings(settings)
    lifecycle = Lifecycle(store, RegistryDirectory.from_settings(settings), Channels())
    event = make_event(
        household, kind, severity=Severity.HIGH, reason=reason, reason_ko=reason_ko
    )
    assert lifecycle.apply(event, utcnow()).created
    return store, event


def sign_in(page: Any, username: str) -> None:
    page.fill("#signin-form input[name=username]", username)
    page.fill("#signin-form input[name=password]", PASSWORD)
    page.click("#signin-form button[type=submit]")


def sign_in_to_inbox(page: Any, web_server: str, username: str) -> None:
    """Open the inbox at ``web_server`` and sign in there as ``username`` (:data:`PASSWORD`)."""
    page.goto(f"{web_server}/inbox")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button")


def open_signed_in(browser: Any, url: str, username: str) -> tuple[Any, Any]:
    """A phone-sized Korean browser context signed in as ``username`` on ``url``.

    Returns the context (close it) and its page, showing ``url``.
    """
    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    page = context.new_page()
    page.goto(url)
    sign_in(page, username)
    page.wait_for_url(url)
    return context, page
