"""The weekly review page of ``anbu web`` in real Chromium: a center's visit plan from the
review's events in InfluxDB, with the week's visits and alerts, in Korean and English, its
CSV the same rows, and 404 for staff of another center.

Screenshots: test-artifacts/review-web-ko.png, review-web-en.png, review-web-print.png, and
the printed page as review-web.pdf.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from alerts.directory import RegistryDirectory
from alerts.lifecycle import Channels, Lifecycle
from alerts.model import AlertState
from alerts.store import AlertStore
from alerts.visits import VisitOutcome, record_visit
from anbu.events import AlertKind, Severity
from anbu.influx import InfluxClient, Point
from anbu.stack.services import free_port
from anbu.timeutil import from_epoch, utcnow
from config import Settings
from detectors.review import WEEK, week_label, week_of, week_start
from devices import residents
from devices import service as registry
from devices.db import init_db, session_factory
from tests.kit.alerts import make_event
from tests.kit.household import seed, sign_in, sign_in_to_inbox, staff_token
from tests.kit.review_rows import MONDAY, WEEKS, Row, trip_week, weeks
from timeseries.review_input import rows_to_points
from timeseries.schema import (
    DEVICE_ATTENTION,
    DEVICE_SUMMARY,
    HEALTH_RP,
    REVIEW_RP,
    ensure_schema,
)
from web.app import create_app

VIEWPORT = {"width": 1400, "height": 800}


def _shifted(rows: list[Row], shift: float) -> list[Row]:
    return [(t + shift, hid, dev, kind, value) for t, hid, dev, kind, value in rows]


def _seed_center(settings: Settings) -> dict[str, str]:
    """cc-a: a withdrawing resident, a steady one, one away on a trip, one never heard."""
    households, _ = seed(settings)
    engine = init_db(settings)
    ids = {"withdrawn": households["cc-a"], "other": households["cc-b"]}
    with session_factory(engine)() as session:
        assert isinstance(session, Session)
        for name, resident in (("steady", "김철수"), ("trip", "이순이"), ("silent", "최영호")):
            ids[name] = registry.create_household(
                session, "cc-a", "역삼1동", checkin_enabled=False
            ).id
            residents.add_resident(session, ids[name], resident)
        session.commit()
    engine.dispose()
    # The kit's nine weeks, moved so that their last week is last week.
    shift = (week_of(utcnow().timestamp()) - 1 - (week_of(MONDAY) + WEEKS - 1)) * WEEK
    rows = sorted(
        _shifted(weeks(ids["withdrawn"], 1), shift)
        + _shifted(weeks(ids["steady"], 5), shift)
        + _shifted(trip_week(ids["trip"], door=True, sensors_heard=False), shift)
        + _shifted(weeks(ids["other"], 0), shift),
        key=lambda r: r[0],
    )
    client = InfluxClient.from_settings(settings)
    ensure_schema(client)
    points = rows_to_points(rows)
    for i in range(0, len(points), 5000):
        client.write(points[i : i + 5000], retention_policy=REVIEW_RP)
    # The newest device-health snapshot: the trip household's door sensor is silent.
    now = utcnow().replace(microsecond=0)
    client.write(
        [
            Point(DEVICE_ATTENTION,
                  {"online": False, "last_seen": int(now.timestamp()) - 7200,
                   "silent_s": 7200, "low_battery": False, "reporting_interval_s": 3600,
                   "care_center": "cc-a", "dong": "역삼1동"},
                  now, {"household": ids["trip"], "device": "door-9", "kind": "door"}),
            Point(DEVICE_SUMMARY, {"total": 3, "online": 2, "offline": 1}, now,
                  {"care_center": "cc-a", "dong": "역삼1동"}),
        ],
        retention_policy=HEALTH_RP,
    )
    client.close()
    return ids


def _week_facts(settings: Settings, ids: dict[str, str], week: int) -> AlertStore:
    """Last week: the withdrawing resident seen well on a visit, with an open alert and a
    missed check-in call; a false alarm at the steady one's."""
    store = AlertStore.from_settings(settings)
    lifecycle = Lifecycle(store, RegistryDirectory.from_settings(settings), Channels())
    tuesday = from_epoch(week_start(week) + 86400 + 10 * 3600)
    opened = make_event(ids["withdrawn"], AlertKind.INACTIVITY_ROUTINE, severity=Severity.HIGH,
                        episode=tuesday, reason="quiet", reason_ko="조용함")
    assert lifecycle.apply(opened, tuesday).created
    false = make_event(ids["steady"], AlertKind.INACTIVITY, severity=Severity.HIGH,
                       episode=tuesday, reason="quiet", reason_ko="조용함")
    assert lifecycle.apply(false, tuesday).created
    with store.transaction() as conn:
        store.close_alert(conn, false.alert_id, AlertState.FALSE_ALARM, tuesday, "김복지",
                          "외출 중이었음")
    # A missed scheduled call, as the check-in calls will open it (kind checkin_missed).
    missed = dataclasses.replace(store.get(opened.alert_id), id="missed-call-1",
                                 kind="checkin_missed", history=[], notifications=[])
    with store.transaction() as conn:
        store.insert_alert(conn, missed)
    # Seen and well on Thursday (this closes the open quiet-home alert, as it should).
    record_visit(store, household_id=ids["withdrawn"], care_center_id="cc-a",
                 outcome=VisitOutcome.SEEN_WELL, note="잘 지내심", recorded_by="김복지",
                 now=tuesday + timedelta(days=2))
    return store


def test_review_page_in_a_real_browser_csv_and_another_center(
    settings: Settings, web_server: str, browser: Any, artifacts_dir: Path
) -> None:
    ids = _seed_center(settings)
    week = week_of(utcnow().timestamp()) - 1
    store = _week_facts(settings, ids, week)
    url = f"{web_server}/inbox/centers/cc-a/review"

    context = browser.new_context(viewport=VIEWPORT, locale="ko-KR", accept_downloads=True)
    page = context.new_page()
    sign_in_to_inbox(page, web_server, "kim.bokji")
    page.click("#review-link")  # from the inbox to their own center's review
    page.wait_for_url(f"{url}*")
    rows = page.locator("#plan tbody tr")
    assert page.locator("h1").inner_text().startswith("역삼1동 복지관: 주간 점검 "
                                                      f"{week_label(week)}")
    cells = [r.split("\t") for r in rows.all_inner_texts()]
    by_id = {c[1]: c for c in cells}
    assert len(cells) == 4 and ids["other"] not in by_id  # cc-b's household is not here
    first = cells[0]
    assert first[1] == ids["withdrawn"] and first[2] == "박순자" and first[3] == "방문"
    assert "이번 주 외출 1일, 평소 5일" in first[15]
    # the visit, the alert (closed by the visit), the missed call
    assert first[9].startswith("만나서 안부 확인 (양호)") and first[10] == "1"
    assert first[12] == "0" and first[13] == "1"
    assert "seen" in (rows.nth(0).get_attribute("class") or "")
    steady = by_id[ids["steady"]]
    assert steady[3] == "-" and steady[10] == "1" and steady[11] == "1"  # a false alarm
    trip = by_id[ids["trip"]]
    assert trip[3] == "부재" and "현관문으로 귀가" in trip[15]
    assert trip[14] == "1" and first[14] == "0"  # its silent door sensor, from device health
    silent = by_id[ids["silent"]]
    assert silent[3] == "기록 없음" and silent[0] == "4"
    page.screenshot(path=str(artifacts_dir / "review-web-ko.png"), full_page=True)

    # The CSV holds the page's rows, cell for cell.
    with page.expect_download() as download:
        page.click("#csv")
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a byte-order mark, for Excel's Korean
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == page.locator("#plan thead th").all_inner_texts()
    assert table[1:] == cells

    # Printed: no buttons, A4 landscape, the table whole.
    page.emulate_media(media="print")
    assert page.locator("header").is_hidden() and page.locator("nav.tools").is_hidden()
    page.screenshot(path=str(artifacts_dir / "review-web-print.png"), full_page=True)
    pdf = page.pdf(path=str(artifacts_dir / "review-web.pdf"), prefer_css_page_size=True)
    # the page's @page rule: A4 landscape (842 x 595 points)
    assert re.search(rb"/MediaBox \[0 0 84[12]\.?[0-9]* 59[45]\.?[0-9]*\]", pdf), pdf[:2000]
    page.emulate_media(media="screen")

    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    cells_en = [r.split("\t") for r in rows.all_inner_texts()]
    assert cells_en[0][3] == "visit" and "went out on 1 day this week, usually 5" in cells_en[0][15]
    assert cells_en[0][9].startswith("Seen and well")
    assert page.locator("h1").inner_text().startswith("역삼1동 복지관: Weekly review")
    page.screenshot(path=str(artifacts_dir / "review-web-en.png"), full_page=True)
    csv_en = httpx.get(f"{url}.csv?lang=en", cookies=_cookies(context))
    assert list(csv.reader(io.StringIO(csv_en.text.lstrip("\ufeff"))))[1:] == cells_en
    context.close()

    # Staff of another center: 404 for cc-a's review, with nothing of it on the answer.
    other = browser.new_context(viewport=VIEWPORT, locale="ko-KR")
    page = other.new_page()
    page.goto(url)
    sign_in(page, "lee.b")
    page.wait_for_url(url)
    answer = page.goto(url)
    assert answer is not None and answer.status == 404
    assert ids["withdrawn"] not in page.content() and "박순자" not in page.content()
    refused = httpx.get(f"{url}.csv", cookies=_cookies(other))
    assert refused.status_code == 404 and ids["withdrawn"] not in refused.text
    # Positive control: the same person sees their own center's review, with its household.
    own = page.goto(f"{web_server}/inbox/centers/cc-b/review")
    assert own is not None and own.status == 200
    assert page.locator(f'#plan tr[data-household-id="{ids["other"]}"]').count() == 1
    other.close()
    store.close()


def _cookies(context: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in context.cookies()}


def test_review_without_influxdb_says_so_and_without_a_session_signs_in(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings({"influx.url": f"http://127.0.0.1:{free_port()}"})
    seed(settings)
    token = staff_token(settings)
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        page = client.get("/inbox/centers/cc-a/review", headers=headers)
        assert page.status_code == 200 and "점검표를 만들 수 없습니다" in page.text
        assert 'id="plan"' not in page.text
        assert client.get("/inbox/centers/cc-a/review.csv", headers=headers).status_code == 503
        # positive control: the same token is refused another center's review (404), not
        # told that InfluxDB is down
        assert client.get("/inbox/centers/cc-b/review", headers=headers).status_code == 404
        anonymous = client.get("/inbox/centers/cc-a/review", follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/signin?next=/inbox/centers/cc-a/")
