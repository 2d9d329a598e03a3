"""Gateway credentials created through the API work on a real Mosquitto, within their ACL.

The test runs its own Mosquitto in the settings' data directory, as the stack does, so the
registry's rewrite of the password and ACL files and its SIGHUP are what is exercised.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from anbu.mosquitto_auth import reload_mosquitto, service_account, write_auth_files
from anbu.stack.services import free_port
from config import Settings
from devices import loops
from testkit.polling import wait_for
from testkit.services import SERVICE_USER
from tests.kit.mqtt import Client
from tests.kit.registry import registry_app


def poster(http: TestClient, headers: dict[str, str]) -> Callable[[str, dict[str, Any]], Any]:
    """POST to the registry API, expecting 201 Created."""

    def post(path: str, body: dict[str, Any]) -> Any:
        response = http.post("/api/v1" + path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    return post




def test_gateway_publishes_only_under_its_own_topics(
    broker: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = broker
    monkeypatch.setattr(loops, "MQTT_WATCH_S", 0.3)
    admin = {"Authorization": f"Bearer {settings.admin_token()}"}
    clients: list[Client] = []
    with TestClient(registry_app(settings)) as http:
        post = poster(http, admin)

        post("/centers", {"care_center_id": "cc-a", "name": "A"})
        hh_a = post("/households", {"care_center_id": "cc-a", "dong": "Seogyo-dong"})["id"]
        hh_b = post("/households", {"care_center_id": "cc-a", "dong": "Seogyo-dong"})["id"]
        login_a = post(f"/households/{hh_a}/gateways", {})
        login_b = post(f"/households/{hh_b}/gateways", {})
        gw_a = login_a["gateway"]["id"]
        assert login_a["mqtt_username"] == gw_a and login_a["mqtt_port"] == settings.mqtt.port
        post(
            f"/households/{hh_a}/devices",
            {"kind": "motion", "source_format": "zigbee2mqtt", "mqtt_topic": "zigbee2mqtt/a_pir"},
        )
        post(
            f"/households/{hh_a}/devices",
            {"kind": "robot", "source_format": "anbu", "mqtt_topic": f"anbu/{gw_a}/robot"},
        )
        post(
            f"/households/{hh_b}/devices",
            {"kind": "motion", "source_format": "zigbee2mqtt", "mqtt_topic": "zigbee2mqtt/b_pir"},
        )
        # Passwords are stored hashed only.
        passwd = (settings.data_dir / "mosquitto" / "passwd").read_text()
        assert login_a["mqtt_password"] not in passwd and f"{gw_a}:$7$" in passwd

        try:
            watcher = Client(settings.mqtt.port, *SERVICE_USER)
            clients.append(watcher)
            assert watcher.wait_connected() == 0
            assert watcher.subscribe("#").value < 128

            gateway = Client(settings.mqtt.port, gw_a, login_a["mqtt_password"])
            clients.append(gateway)
            assert gateway.wait_connected() == 0, "the registry's new account was not loaded"

            own = [
                "zigbee2mqtt/a_pir",
                "zigbee2mqtt/a_pir/availability",
                f"anbu/{gw_a}/heartbeat",
                f"anbu/{gw_a}/robot/event",
            ]
            foreign = [
                "zigbee2mqtt/b_pir",
                "zigbee2mqtt/b_pir/availability",
                "zigbee2mqtt/bridge/x",
            ]
            for topic in foreign:
                assert gateway.publish(topic, b"intruder").value == 135, topic  # not authorised
            for topic in own:
                assert gateway.publish(topic, b"ok").value < 128, topic
            wait_for(lambda: len([m for m in watcher.received if m[1] == b"ok"]) == len(own))
            assert sorted(t for t, p in watcher.received if p == b"ok") == sorted(own)
            assert not [m for m in watcher.received if m[1] == b"intruder"]

            # Mosquitto grants any subscription but delivers only what the ACL lets it read:
            # the robot's commands, not another household's sensor data.
            for pattern in (f"anbu/{gw_a}/robot/command", "zigbee2mqtt/b_pir", "#"):
                assert gateway.subscribe(pattern).value < 128
            assert watcher.publish("zigbee2mqtt/b_pir", b"neighbour").value < 128
            assert watcher.publish(f"anbu/{gw_a}/robot/command", b"checkin").value < 128
            wait_for(lambda: (f"anbu/{gw_a}/robot/command", b"checkin") in gateway.received)
            assert {p for _, p in gateway.received} == {b"checkin"}

            wrong = Client(settings.mqtt.port, login_b["gateway"]["id"], "wrong-password")
            clients.append(wrong)
            assert wrong.wait_connected() != 0

            # Something rewrites Mosquitto's files with only the service account (a fresh
            # `anbu up`): the registry notices and restores the gateways' accounts.
            directory = settings.data_dir / "mosquitto"
            write_auth_files(
                directory / "passwd", directory / "acl", [service_account(*SERVICE_USER)]
            )
            assert reload_mosquitto(directory / "mosquitto.pid")
            wait_for(lambda: gw_a in (directory / "passwd").read_text(), timeout_s=20)
            restored = Client(settings.mqtt.port, gw_a, login_a["mqtt_password"])
            clients.append(restored)
            assert restored.wait_connected() == 0
            assert restored.publish("zigbee2mqtt/b_pir", b"intruder").value == 135

            # Retiring the gateway removes its account at once.
            assert http.delete(f"/api/v1/gateways/{gw_a}", headers=admin).status_code == 200
            again = Client(settings.mqtt.port, gw_a, login_a["mqtt_password"])
            clients.append(again)
            assert again.wait_connected() != 0
        finally:
            for client in clients:
                client.close()


def test_on_site_check_turns_ok_when_the_sensor_reports_through_the_bridge(
    broker: Settings, tmp_path: Path
) -> None:
    """The installer's flow: register, pair, check says 'never', sensor fires, check says ok."""
    import subprocess
    import sys

    settings = broker.model_copy(
        update={
            "registry": broker.registry.model_copy(
                update={"last_seen_flush": timedelta(seconds=0.2)}
            )
        }
    )
    admin = {"Authorization": f"Bearer {settings.admin_token()}"}
    topics = settings.kafka.topics
    flags = [
        f"mqtt.port={settings.mqtt.port}",
        f"mqtt.username={SERVICE_USER[0]}",
        f"mqtt.password={SERVICE_USER[1]}",
        f"mqtt.shared_group=g{uuid.uuid4().hex[:6]}",
        f"kafka.bootstrap_servers={settings.kafka.bootstrap_servers[0]}",
        f"kafka.topics.events={topics.events}",
        f"kafka.topics.sos={topics.sos}",
        f"kafka.topics.deadletter={topics.deadletter}",
        f"kafka.topics.registry={topics.registry}",
        f"kafka.topics.alerts={topics.alerts}",
        f"influx.url={settings.influx.url}",
        f"influx.database={settings.influx.database}",
        f"ingest.metrics_port={free_port()}",
    ]
    argv = [sys.executable, "-m", "anbu", "--data-dir", str(settings.data_dir)]
    for flag in flags:
        argv += ["--set", flag]
    with TestClient(registry_app(settings)) as http:
        post = poster(http, admin)

        post("/centers", {"care_center_id": "cc-a", "name": "A"})
        hh = post("/households", {"care_center_id": "cc-a", "dong": "Seogyo-dong"})["id"]
        login = post(f"/households/{hh}/gateways", {})
        gateway_id = login["gateway"]["id"]
        name = f"{hh}_hall_pir"
        device = post(
            f"/households/{hh}/devices",
            {
                "kind": "motion",
                "source_format": "zigbee2mqtt",
                "mqtt_topic": f"zigbee2mqtt/{name}",
                "gateway_id": gateway_id,
            },
        )["id"]
        check = http.get(f"/api/v1/households/{hh}/check", headers=admin).json()
        assert check["ok"] is False and check["devices"][0]["status"] == "never"

        with (tmp_path / "bridge.log").open("wb") as log:
            bridge = subprocess.Popen(
                [*argv, "bridge", "--client-id", f"bridge-{uuid.uuid4().hex[:6]}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        sensor = Client(settings.mqtt.port, gateway_id, login["mqtt_password"])
        try:
            assert sensor.wait_connected() == 0

            def reported() -> bool:
                # The bridge may still be loading the registry: the sensor fires again.
                sensor.publish(f"zigbee2mqtt/{name}", b'{"occupancy":true,"battery":97}')
                result = http.get(f"/api/v1/households/{hh}/check", headers=admin).json()
                return bool(result["ok"])

            wait_for(reported, timeout_s=90, step_s=1.0)
        finally:
            sensor.close()
            bridge.terminate()
            bridge.wait(timeout=30)
        final = http.get(f"/api/v1/households/{hh}/check", headers=admin).json()
        assert final["devices"][0]["device_id"] == device
        assert final["devices"][0]["reported_since_install"] is True
        assert final["gateways"][0]["status"] == "ok"
