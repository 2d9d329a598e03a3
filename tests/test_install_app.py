"""The installer's phone app (/install): a real browser commissions a home end to end.

Chromium on a 390x844 phone screen signs in as an installer, registers a household and its
gateway (the QR code and the login shown once), adds two devices by their label id, and
watches the live check: the device that publishes through the real Mosquitto and the real
bridge turns green without a reload, the silent one stays grey with what to do. The JSON
actions are checked too: other roles are refused, another center's homes do not exist, and
bad input is answered 4xx saying what was wrong.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from config import Settings
from devices import service as registry
from devices.accounts import create_account
from devices.db import init_db, session_factory
from devices.models import Device
from devices.principals import Principal, Role
from testkit.polling import wait_for
from tests.kit.mqtt import Client
from tests.kit.web import ADMIN_PASSWORD, make_admin, sign_in
from web.app import create_app
from web.install.api import default_topic

PASSWORD = "installer password 1"
PHONE = {"width": 390, "height": 844}
DONGS = ["역삼1동", "역삼2동"]


@pytest.fixture
def settings(broker: Settings) -> Settings:  # noqa: F811 - the imported fixture
    """Settings on the test's own Mosquitto; last-seen times written five times a second."""
    registry_settings = broker.registry.model_copy(
        update={"last_seen_flush": timedelta(seconds=0.2)}
    )
    return broker.model_copy(update={"registry": registry_settings})


def seed(settings: Settings) -> None:
    """Two centers; an installer and a staff member of cc-a, an installer of cc-b."""
    engine = init_db(settings)
    bootstrap = Principal("bootstrap", Role.ADMIN, None, "bootstrap")
    with session_factory(engine)() as session:
        assert isinstance(session, Session)
        registry.create_care_center(session, "cc-a", "역삼 복지관", dongs=DONGS)
        registry.create_care_center(session, "cc-b", "청운 복지관", dongs=["청운효자동"])
        for username, role, center in (("park.install", "installer", "cc-a"),
                                       ("kim.staff", "staff", "cc-a"),
                                       ("choi.install", "installer", "cc-b")):
            create_account(session, bootstrap, username=username, display_name=username,
                           role=role, care_center_id=center, password=PASSWORD)
        session.commit()
    engine.dispose()


@pytest.fixture
def bridge(settings: Settings) -> Iterator[Callable[[], Any]]:
    """Starts the real MQTT → Kafka bridge on demand (after the devices are registered)."""
    from ingest.bridge import Bridge

    started: list[Any] = []

    def start() -> Any:
        instance = Bridge(settings, client_id=f"bridge-{settings.influx.database}",
                          serve_metrics=False, write_influx=False)
        instance.start(registry_timeout_s=60)
        assert instance.subscribed.wait(30)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


def qr_login(page: Any) -> tuple[str, str, str]:
    """The user name, password and broker held by the QR code on the screen, read back by
    zxing-cpp from a screenshot of it (as a gateway's camera would see it)."""
    shot = page.locator("#gateway-qr svg").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert [code.format for code in found] == [zxingcpp.BarcodeFormat.QRCode]
    uri = urlsplit(found[0].text)
    assert uri.scheme == "mqtt" and uri.username and uri.password
    return unquote(uri.username), unquote(uri.password), f"{uri.hostname}:{uri.port}"


def device_row(page: Any, device_id: str) -> Any:
    return page.locator(f'#devices li[data-device-id="{device_id}"]')


def test_installer_commissions_a_home_on_a_phone(
    settings: Settings,
    web_server: str,
    browser: Any,
    artifacts_dir: Path,
    bridge: Callable[[], Any],
) -> None:
    seed(settings)
    context = browser.new_context(viewport=PHONE, locale="ko-KR")
    page = context.new_page()
    page.goto(f"{web_server}/install")
    assert "/signin" in page.url  # no session: the ordinary sign-in, then back here
    sign_in(page, "park.install", PASSWORD)
    page.wait_for_url(f"{web_server}/install")
    page.screenshot(path=str(artifacts_dir / "install-find-ko.png"), full_page=True)

    # A new household in one of the center's dongs; no names or phones asked.
    page.select_option("#dong-select", "역삼2동")
    page.click("#create-form button[type=submit]")
    page.wait_for_url(f"{web_server}/install/households/*")
    household = page.inner_text("#household-id").strip()
    assert household.startswith("hh-") and page.inner_text("#household-dong") == "역삼2동"

    # The gateway: its login shown once, with a QR code drawn as SVG.
    page.click("#register-gateway")
    page.wait_for_selector("#gateway-qr svg", state="visible")
    qr = page.locator("#gateway-qr svg").bounding_box()
    assert qr is not None and qr["width"] >= 150 and qr["width"] == qr["height"]
    gateway_id = page.inner_text("#login-user").strip()
    password = page.inner_text("#login-password").strip()
    assert gateway_id.startswith("gw-") and len(password) >= 20
    assert page.inner_text("#login-broker").strip() == f"127.0.0.1:{settings.mqtt.port}"
    # What the gateway's camera reads off the phone's screen is the login shown beside it.
    assert qr_login(page) == (gateway_id, password, f"127.0.0.1:{settings.mqtt.port}")
    page.screenshot(path=str(artifacts_dir / "install-gateway-ko.png"), full_page=True)

    # Two devices by their label id (what a scan fills in), kind and room.
    sensor, door = "0x00158d0001a2b3c4", "0x00158d0001ffee01"
    for device_id, kind, room in ((sensor, "motion", "거실"), (door, "door", "현관")):
        page.fill("#device-id", device_id)
        page.select_option("#device-kind", kind)
        page.select_option("#device-room", room)
        page.click("#add-device")
        device_row(page, device_id).wait_for()
    assert page.input_value("#device-id") == ""  # ready for the next label
    for device_id in (sensor, door):
        assert device_row(page, device_id).get_attribute("data-status") == "never"
    assert "2대 중 2대 신호 기다리는 중" in page.inner_text("#summary")

    # The motion sensor fires through the gateway's login, Mosquitto and the real bridge.
    running = bridge()
    client = Client(settings.mqtt.port, gateway_id, password)
    try:
        assert client.wait_connected() == 0  # the login the page showed works

        def green() -> bool:
            # The bridge may still be loading the registry: the sensor fires again.
            client.publish(f"zigbee2mqtt/{sensor}", b'{"occupancy":true,"battery":97}')
            try:
                page.wait_for_selector(
                    f'#devices li[data-device-id="{sensor}"][data-status="ok"]', timeout=3000)
            except Exception:  # noqa: BLE001 - Playwright's timeout: try again
                return False
            return True

        wait_for(green, timeout_s=90, step_s=0.5)
    finally:
        client.close()
    assert running.metrics.acked > 0
    # Positive and negative control: the silent door sensor is still grey, with hints.
    assert device_row(page, door).get_attribute("data-status") == "never"
    assert device_row(page, door).locator(".hints").is_visible()
    assert device_row(page, sensor).locator(".hints").is_hidden()
    assert "신호 받음" in device_row(page, sensor).inner_text()
    assert "2대 중 1대 신호 기다리는 중" in page.inner_text("#summary")
    page.locator(f'#devices li[data-device-id="{door}"] .hints summary').click()
    hints = device_row(page, door).inner_text()
    assert "배터리" in hints and "게이트웨이에서 10 m" in hints and "페어링" in hints
    # The gateway reported too (its devices' messages name it).
    page.wait_for_selector(f'#gateways li[data-gateway-id="{gateway_id}"][data-status="ok"]')
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "install-check-ko.png"), full_page=True)

    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    device_row(page, sensor).wait_for()
    assert "reported" in device_row(page, sensor).inner_text()
    assert "1 of 2 still waiting" in page.inner_text("#summary")
    page.locator(f'#devices li[data-device-id="{door}"] .hints summary').click()
    assert "Battery" in device_row(page, door).inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "install-check-en.png"), full_page=True)

    # The door sensor was faulty: replaced by a new one, which starts grey.
    new_door = "0x00158d0001ffee02"
    row = device_row(page, door)
    row.get_by_role("button", name="Replace").click()
    row.locator(".actions input").fill(new_door)
    row.get_by_role("button", name="Replace it").click()
    device_row(page, new_door).wait_for()
    assert device_row(page, door).count() == 0
    assert device_row(page, new_door).get_attribute("data-status") == "never"
    # Same kind and room as the old one (stored in Korean, shown in the page's language).
    assert "Entrance door sensor · Entrance" in device_row(page, new_door).inner_text()

    # The gateway is swapped too: a new one registered (its own QR code), the old one retired.
    page.click("#register-gateway")  # "Add another gateway"; the page was reloaded in English,
    page.wait_for_selector("#login", state="visible")  # so no login is on the screen before
    spare = page.inner_text("#login-user").strip()
    spare_password = page.inner_text("#login-password").strip()
    assert qr_login(page) == (spare, spare_password, f"127.0.0.1:{settings.mqtt.port}")
    assert spare not in ("", gateway_id) and spare_password != password
    old_gateway = page.locator(f'#gateways li[data-gateway-id="{gateway_id}"]')
    old_gateway.get_by_role("button", name="Retire").click()
    old_gateway.get_by_role("button", name="Really retire").click()
    old_gateway.wait_for(state="detached")
    page.wait_for_selector(f'#gateways li[data-gateway-id="{spare}"]')
    assert page.is_visible("#login")  # the new gateway's login stays until it has read it
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "install-gateway-en.png"), full_page=True)
    page.goto(f"{web_server}/install?lang=en")
    page.wait_for_selector(f'#results a[href*="{household}"]')
    page.screenshot(path=str(artifacts_dir / "install-find-en.png"), full_page=True)
    context.close()


def gateway_of(settings: Settings, device_id: str) -> str | None:
    """The gateway a device is tied to, as the registry holds it."""
    engine = init_db(settings)
    try:
        with Session(engine) as session:
            row = session.get(Device, device_id)
            assert row is not None
            return row.gateway_id
    finally:
        engine.dispose()


def session_of(client: TestClient, username: str) -> None:
    """Sign ``client`` in with the account's user name and password (the session cookie)."""
    client.cookies.clear()
    answer = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 204, answer.text


def problems(answer: Any) -> str:
    return str(answer.json()["detail"])


def test_actions_are_for_installers_of_the_center_and_bad_input_is_named(
    settings: Settings,
) -> None:
    seed(settings)
    with TestClient(create_app(settings)) as client:
        # No session: the API says 401, the page sends to the sign-in.
        assert client.get("/install/api/households").status_code == 401
        page = client.get("/install", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/signin?next=/install"

        session_of(client, "park.install")
        made = client.post("/install/api/households", json={"dong": "역삼1동"})
        assert made.status_code == 201, made.text
        hh = made.json()["id"]
        assert made.json()["care_center_id"] == "cc-a"  # the installer's own center
        assert set(made.json()) == {"id", "care_center_id", "dong", "gateways", "devices",
                                    "created_at"}  # no address, names or phones
        assert client.get("/install").status_code == 200
        assert client.get(f"/install/households/{hh}").status_code == 200
        login = client.post(f"/install/api/households/{hh}/gateways", json={})
        assert login.status_code == 201 and login.json()["qr_svg"].startswith("<svg")
        gateway = login.json()["gateway_id"]
        assert login.json()["uri"] == (
            f"mqtt://{gateway}:{login.json()['mqtt_password']}@127.0.0.1:{settings.mqtt.port}")
        added = client.post(f"/install/api/households/{hh}/devices",
                            json={"device_id": "0xabc1", "kind": "motion", "room": "거실"})
        assert added.status_code == 201, added.text
        # Tied to the home's only gateway, at Zigbee2MQTT's default topic.
        assert added.json()["gateway_id"] == gateway
        assert added.json()["mqtt_topic"] == "zigbee2mqtt/0xabc1"
        check = client.get(f"/install/api/households/{hh}/check").json()
        assert [d["status"] for d in check["devices"]] == ["never"]
        assert login.json()["mqtt_password"] not in str(check)  # shown once, never again

        # Bad input: 4xx naming the field and what was wrong.
        wrong_dong = client.post("/install/api/households", json={"dong": "청운효자동"})
        assert wrong_dong.status_code == 422 and "not a dong of cc-a" in problems(wrong_dong)
        spaced = client.post(f"/install/api/households/{hh}/devices",
                             json={"device_id": "bad id", "kind": "motion"})
        assert spaced.status_code == 422 and "device_id" in problems(spaced)
        kind = client.post(f"/install/api/households/{hh}/devices",
                           json={"device_id": "0xabc2", "kind": "toaster"})
        assert kind.status_code == 422 and "kind" in problems(kind)
        twice = client.post(f"/install/api/households/{hh}/devices",
                            json={"device_id": "0xabc1", "kind": "door"})
        assert twice.status_code == 409 and "0xabc1" in problems(twice)
        topic = client.post(f"/install/api/households/{hh}/devices",
                            json={"device_id": "0xabc3", "kind": "door", "mqtt_topic": "a/#"})
        assert topic.status_code == 422 and "wildcards" in problems(topic)
        reserved = client.post(f"/install/api/households/{hh}/gateways",
                               json={"gateway_id": "anbu-gw"})
        assert reserved.status_code == 422 and "reserved" in problems(reserved)
        extra = client.post("/install/api/households", json={"dong": "역삼1동", "address": "x"})
        assert extra.status_code == 422 and "address" in problems(extra)

        # Replace keeps the room and moves the default topic to the new id; retire ends it.
        swapped = client.post("/install/api/devices/0xabc1/replace", json={"device_id": "0xabc9"})
        assert swapped.status_code == 201, swapped.text
        assert swapped.json()["replaces"] == "0xabc1" and swapped.json()["room"] == "거실"
        assert swapped.json()["mqtt_topic"] == "zigbee2mqtt/0xabc9"
        again = client.post("/install/api/devices/0xabc1/replace", json={"device_id": "0xabca"})
        assert again.status_code == 409 and "retired" in problems(again)
        retired = client.delete("/install/api/devices/0xabc9")
        assert retired.status_code == 200 and retired.json()["retired_at"] is not None
        assert client.get(f"/install/api/households/{hh}/check").json()["devices"] == []

        # A broken gateway is swapped: the new one registered, the old one retired; its
        # devices go to the new one, whose login may then publish for them.
        tied = client.post(f"/install/api/households/{hh}/devices",
                           json={"device_id": "0xabd1", "kind": "door", "room": "현관"})
        assert tied.json()["gateway_id"] == gateway
        spare = client.post(f"/install/api/households/{hh}/gateways", json={}).json()["gateway_id"]
        gone = client.delete(f"/install/api/gateways/{gateway}")
        assert gone.status_code == 200, gone.text
        assert gone.json()["retired_at"] is not None and gone.json()["devices_moved_to"] == spare
        check = client.get(f"/install/api/households/{hh}/check").json()
        assert [g["gateway_id"] for g in check["gateways"]] == [spare]
        assert gateway_of(settings, "0xabd1") == spare
        twice_retired = client.delete(f"/install/api/gateways/{gateway}")
        assert twice_retired.status_code == 409 and "retired" in problems(twice_retired)
        assert client.post(f"/install/api/gateways/{gateway}/password").status_code == 409

        # A path the app does not have: a JSON 404 naming it, never a 5xx or an HTML page.
        for method, path in (("GET", "/install/api/nothing"),
                             ("POST", f"/install/api/households/{hh}/doors"),
                             ("DELETE", "/install/api/gateways"),
                             ("GET", "/install/api/households/a/b/c/d")):
            answer = client.request(method, path)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/json"
            assert path in problems(answer) and "설치 앱에 이런 기능이 없습니다" in problems(answer)
        # Positive control: a known path with another method is still 405, not 404.
        wrong_method = client.put("/install/api/households", json={})
        assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]

        # Staff of the same center: not theirs to do (403), neither the page nor the actions.
        session_of(client, "kim.staff")
        refused = client.get("/install")
        assert refused.status_code == 403 and "설치 기사와 관리자만" in refused.text
        assert client.get(f"/install/households/{hh}").status_code == 403
        for method, path, body in (
            ("GET", "/install/api/households", None),
            ("POST", "/install/api/households", {"dong": "역삼1동"}),
            ("GET", f"/install/api/households/{hh}/check", None),
            ("POST", f"/install/api/households/{hh}/devices",
             {"device_id": "0xdef1", "kind": "motion"}),
            ("POST", f"/install/api/gateways/{spare}/password", None),
            ("DELETE", f"/install/api/gateways/{spare}", None),
            ("POST", "/install/api/devices/0xabc9/replace", {"device_id": "0xdef2"}),
            ("DELETE", "/install/api/devices/0xabc9", None),
        ):
            answer = client.request(method, path, json=body)
            assert answer.status_code == 403, (method, path, answer.text)

        # An installer of another center: the household does not exist for them (404).
        session_of(client, "choi.install")
        assert client.get(f"/install/households/{hh}").status_code == 404
        assert client.get(f"/install/api/households/{hh}/check").status_code == 404
        assert client.post(f"/install/api/households/{hh}/gateways", json={}).status_code == 404
        assert client.post(f"/install/api/gateways/{spare}/password").status_code == 404
        assert client.delete(f"/install/api/gateways/{spare}").status_code == 404
        assert client.get("/install/api/households", params={"q": hh}).json() == []
        other_center = client.post("/install/api/households",
                                   json={"care_center_id": "cc-a", "dong": "역삼1동"})
        assert other_center.status_code == 404
        # Positive control: their own center's household is theirs.
        own = client.post("/install/api/households", json={"dong": "청운효자동"})
        assert own.status_code == 201, own.text
        found = client.get("/install/api/households", params={"q": "청운"}).json()
        assert [h["id"] for h in found] == [own.json()["id"]]


def test_default_topics_follow_each_format() -> None:
    assert default_topic("zigbee2mqtt", "0x01", "gw-1") == "zigbee2mqtt/0x01"
    assert default_topic("tasmota", "tasmota_ABC", None) == "tele/tasmota_ABC"
    assert default_topic("shelly", "shellyplug-s-1", None) == "shellies/shellyplug-s-1"
    assert default_topic("anbu", "robot", "gw-1") == "anbu/gw-1/robot"


def test_navigation_links_the_installer_app_for_installers_and_admins_only(
    settings: Settings,
) -> None:
    seed(settings)
    make_admin(settings, "lee.admin")
    with TestClient(create_app(settings)) as client:
        # Every signed-in page carries the navigation; /accounts renders for every role
        # (403 for those who may not manage accounts), so one page shows all of them.
        for username, password, shown in (("park.install", PASSWORD, True),
                                          ("lee.admin", ADMIN_PASSWORD, True),
                                          ("kim.staff", PASSWORD, False)):
            client.cookies.clear()
            signed = client.post("/api/v1/session",
                                 json={"username": username, "password": password})
            assert signed.status_code == 204, signed.text
            page = client.get("/accounts?lang=en")
            assert ('<a href="/install?lang=en" id="nav-install">Installer app</a>'
                    in page.text) is shown, username
            assert 'href="/devices"' in page.text  # positive control: the navigation is there
