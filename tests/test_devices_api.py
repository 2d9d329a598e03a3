"""The registry's HTTP API against a real SQLite file / PostgreSQL and a real Kafka."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from anbu.events import DeviceEvent, EventBatch, EventKind, SourceFormat
from anbu.registry_records import parse_registry_record
from config import Settings
from devices import api
from testkit.kafka_tail import produce
from testkit.polling import wait_for
from tests.kit.postgres import new_postgres_database
from tests.kit.registry import read_registry, registry_app


@dataclass
class Api:
    client: TestClient
    settings: Settings
    admin: dict[str, str]

    def as_(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def ok(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        response = self.client.request(
            method, "/api/v1" + path, headers=headers or self.admin, **kw
        )
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json()

    def token(self, role: str, center: str | None = None) -> dict[str, str]:
        body = {"role": role, "name": f"{role} {center}", "care_center_id": center}
        return self.as_(self.ok("POST", "/tokens", json=body)["token"])


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> Iterator[Api]:
    overrides = {
        "registry.last_seen_flush": "0.2s",
        "registry.consumer_group": f"anbu-registry-{uuid.uuid4().hex[:8]}",
    }
    if request.param == "postgresql":
        overrides["registry.database_url"] = new_postgres_database()
    settings = make_settings(overrides)
    with TestClient(registry_app(settings)) as client:
        yield Api(client, settings, {"Authorization": f"Bearer {settings.admin_token()}"})


def _home(api_: Api, center: str, dong: str, topic_prefix: str) -> dict[str, Any]:
    """A center with a household, a resident, a contact, a gateway and two devices."""
    if api_.client.get(f"/api/v1/centers/{center}", headers=api_.admin).status_code == 404:
        api_.ok(
            "POST", "/centers", json={"care_center_id": center, "name": center, "dongs": [dong]}
        )
    household = api_.ok("POST", "/households", json={"care_center_id": center, "dong": dong})
    hh = household["id"]
    resident = api_.ok(
        "POST", f"/households/{hh}/residents", json={"name": "Park", "phone": "010-1111-2222"}
    )
    contact = api_.ok(
        "POST",
        f"/households/{hh}/contacts",
        json={"tier": 1, "name": "Son", "phone": "010-3333-4444"},
    )
    gateway = api_.ok("POST", f"/households/{hh}/gateways", json={})["gateway"]
    device = api_.ok(
        "POST",
        f"/households/{hh}/devices",
        json={
            "kind": "motion",
            "source_format": "zigbee2mqtt",
            "mqtt_topic": f"{topic_prefix}/pir",
            "room": "hall",
        },
    )
    robot = api_.ok(
        "POST",
        f"/households/{hh}/devices",
        json={
            "kind": "robot",
            "source_format": "anbu",
            "mqtt_topic": f"anbu/{gateway['id']}/robot",
            "gateway_id": gateway["id"],
        },
    )
    return {
        "care_center_id": center,
        "household_id": hh,
        "resident_id": resident["id"],
        "contact_id": contact["id"],
        "gateway_id": gateway["id"],
        "device_id": device["id"],
        "robot_id": robot["id"],
    }


# A valid body for each write endpoint, so the 404 is not hidden behind a 422.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/centers/{care_center_id}"): {"name": "Renamed"},
    ("PATCH", "/api/v1/households/{household_id}"): {"inactivity_hours": 12},
    ("POST", "/api/v1/households/{household_id}/residents"): {"name": "Kim"},
    ("PATCH", "/api/v1/residents/{resident_id}"): {"phone": "010-0000-0000"},
    ("POST", "/api/v1/households/{household_id}/contacts"): {
        "tier": 2,
        "name": "X",
        "phone": "010-1",
    },
    ("PATCH", "/api/v1/contacts/{contact_id}"): {"tier": 3},
    ("POST", "/api/v1/households/{household_id}/gateways"): {},
    ("PATCH", "/api/v1/gateways/{gateway_id}"): {"heartbeat_interval_s": 30},
    ("POST", "/api/v1/households/{household_id}/devices"): {
        "kind": "door",
        "source_format": "zigbee2mqtt",
        "mqtt_topic": "zigbee2mqtt/other_door",
    },
    ("PATCH", "/api/v1/devices/{device_id}"): {"room": "kitchen"},
    ("POST", "/api/v1/devices/{device_id}/replace"): {},
}


def _routes_touching_households() -> list[tuple[str, str]]:
    found = []
    for route in api.router.routes:
        assert isinstance(route, APIRoute)
        params = set(re.findall(r"{(\w+)}", route.path))
        if not params or params == {"token_id"}:
            continue
        for method in sorted(route.methods or ()):
            found.append((method, route.path))
    return found


def test_staff_get_404_for_every_endpoint_touching_another_centers_household(registry: Api) -> None:
    a = _home(registry, "cc-a", "Seogyo-dong", "zigbee2mqtt/a")
    b = _home(registry, "cc-b", "Mangwon-dong", "zigbee2mqtt/b")
    staff_a = registry.token("staff", "cc-a")
    routes = _routes_touching_households()
    assert len(routes) >= 25, routes  # every entity's read, update and retire endpoints
    # Retiring endpoints run last so the others still find their target.
    routes.sort(key=lambda r: r[0] == "DELETE")
    for method, path in routes:
        body = BODIES.get((method, path))
        url = path.format(**b)
        response = registry.client.request(method, url, headers=staff_a, json=body)
        assert response.status_code == 404, (
            f"{method} {url}: {response.status_code} {response.text}"
        )
        assert "not found" in response.json()["detail"]
        # The same request on their own household is not a 404: the test can fail.
        own = registry.client.request(method, path.format(**a), headers=staff_a, json=body)
        assert own.status_code != 404, f"{method} {path} on own household: {own.text}"
    listed = registry.ok("GET", "/households", headers=staff_a)
    assert [h["id"] for h in listed] == [a["household_id"]]
    assert [c["id"] for c in registry.ok("GET", "/centers", headers=staff_a)] == ["cc-a"]
    # Nothing of center B was changed by those attempts.
    assert registry.ok("GET", f"/centers/{b['care_center_id']}")["name"] == "cc-b"
    assert registry.ok("GET", f"/households/{b['household_id']}")["retired_at"] is None


def test_roles_and_tokens(registry: Api) -> None:
    home = _home(registry, "cc-a", "Seogyo-dong", "zigbee2mqtt/a")
    hh = home["household_id"]
    response = registry.client.get("/api/v1/households")
    assert response.status_code == 401 and "Bearer" in response.json()["detail"]
    bad = registry.client.get("/api/v1/households", headers=registry.as_("anbu_wrong"))
    assert bad.status_code == 401 and "invalid" in bad.json()["detail"]

    operator = registry.token("operator")
    assert registry.ok("GET", f"/households/{hh}", headers=operator)["address"] is None
    assert (
        registry.client.get(f"/api/v1/households/{hh}/residents", headers=operator).status_code
        == 403
    )
    assert (
        registry.client.patch(
            f"/api/v1/households/{hh}", headers=operator, json={"dong": "X"}
        ).status_code
        == 403
    )

    installer = registry.token("installer")
    assert registry.client.get("/api/v1/tokens", headers=installer).status_code == 403
    registry.ok(
        "POST",
        f"/households/{hh}/devices",
        headers=installer,
        json={"kind": "plug", "source_format": "tasmota", "mqtt_topic": "tele/tasmota_1"},
    )

    staff = registry.token("staff", "cc-a")
    # Staff mark a household away, through the cookie the web pages use.
    token = staff["Authorization"].split()[1]
    registry.client.cookies.set("anbu_token", token)
    away = {
        "away_periods": [
            {
                "start": "2026-01-01T00:00:00+09:00",
                "end": "2026-01-10T00:00:00+09:00",
                "note": "hospital",
            }
        ]
    }
    patched = registry.client.patch(f"/api/v1/households/{hh}", json=away)
    registry.client.cookies.clear()
    assert patched.status_code == 200, patched.text
    assert patched.json()["away_periods"][0]["start"] == "2025-12-31T15:00:00Z"
    assert (
        registry.client.post(
            f"/api/v1/households/{hh}/gateways", headers=staff, json={}
        ).status_code
        == 403
    )

    tokens = registry.ok("GET", "/tokens")
    assert all("token" not in t and "token_hash" not in t for t in tokens)
    staff_id = next(t["id"] for t in tokens if t["role"] == "staff")
    registry.ok("DELETE", f"/tokens/{staff_id}")
    assert registry.client.get("/api/v1/whoami", headers=staff).status_code == 401


def test_changes_are_published_and_a_snapshot_refills_an_empty_topic(
    registry: Api, make_settings: Callable[..., Settings]
) -> None:
    home = _home(registry, "cc-a", "Seogyo-dong", "zigbee2mqtt/a")
    hh, device = home["household_id"], home["device_id"]
    registry.ok(
        "PATCH",
        f"/households/{hh}",
        json={"inactivity_hours": 6, "quiet_hours": {"start": "22:00", "end": "06:00"}},
    )
    new = registry.ok("POST", f"/devices/{device}/replace", json={"device_id": "dev-pir-new"})
    assert new["replaces"] == device and new["mqtt_topic"] == "zigbee2mqtt/a/pir"
    keys = [
        "center:cc-a",
        f"household:{hh}",
        f"gateway:{home['gateway_id']}",
        f"device:{device}",
        "device:dev-pir-new",
    ]

    def complete(latest: dict[bytes, bytes]) -> bool:
        return (
            all(k.encode() in latest for k in keys)
            and b'"inactivity_hours":6.0' in latest[f"household:{hh}".encode()]
        )

    latest = read_registry(registry.settings, complete)
    old = parse_registry_record(latest[f"device:{device}".encode()])
    assert old.retired and old.type == "device" and old.retired_at is not None
    household = parse_registry_record(latest[f"household:{hh}".encode()])
    assert (
        household.type == "household" and household.tiers == 1 and household.quiet_hours is not None
    )
    everything = b"".join(latest.values())
    for personal in (b"Park", b"010-", b"Son"):
        assert personal not in everything
    history = registry.ok("GET", "/devices/dev-pir-new/history")
    assert [d["id"] for d in history] == [device, "dev-pir-new"]

    # A broker that lost its data: a fresh topic is refilled by the start-up snapshot.
    fresh = registry.settings.model_copy(
        update={
            "kafka": registry.settings.kafka.model_copy(
                update={
                    "topics": registry.settings.kafka.topics.model_copy(
                        update={"registry": registry.settings.kafka.topics.registry + ".new"}
                    )
                }
            )
        }
    )
    with TestClient(registry_app(fresh)):
        refilled = read_registry(fresh, lambda latest: all(k.encode() in latest for k in keys))
    assert parse_registry_record(refilled[b"device:dev-pir-new"]).retired is False


def test_commissioning_check_learns_last_reports_from_events(registry: Api) -> None:
    home = _home(registry, "cc-a", "Seogyo-dong", "zigbee2mqtt/a")
    hh = home["household_id"]
    before = registry.ok("GET", f"/households/{hh}/check")
    assert before["ok"] is False
    assert {d["status"] for d in before["devices"]} == {"never"}
    assert all(d["reported_since_install"] is False for d in before["devices"])

    now = datetime.now(UTC)
    events = [
        DeviceEvent(
            household_id=hh,
            device_id=device,
            kind=kind,
            value=1,
            event_time=now,
            receive_time=now,
            source_format=SourceFormat.ZIGBEE2MQTT,
            idempotency_key=f"k-{device}",
            gateway_id=home["gateway_id"],
        )
        for device, kind in (
            (home["device_id"], EventKind.MOTION),
            (home["robot_id"], EventKind.ROBOT),
        )
    ]
    batch = EventBatch(household_id=hh, events=events)
    produce(registry.settings, registry.settings.kafka.topics.events, hh.encode(), batch.to_json())
    produce(registry.settings, registry.settings.kafka.topics.events, hh.encode(), b"not json")

    after = wait_for(
        lambda: (r := registry.ok("GET", f"/households/{hh}/check"))["ok"] and r, timeout_s=60
    )
    assert all(d["reported_since_install"] and d["status"] == "ok" for d in after["devices"])
    assert after["gateways"][0]["status"] == "ok"
    seen = datetime.fromisoformat(after["devices"][0]["last_seen_at"])
    assert abs((seen - now).total_seconds()) < 1


def test_import_over_http_is_all_or_nothing(registry: Api) -> None:
    registry.ok("POST", "/centers", json={"care_center_id": "cc-a", "name": "A"})
    good = (
        "household_id,care_center_id,dong,device_kind,source_format,mqtt_topic\n"
        "hh-i1,cc-a,Seogyo-dong,motion,zigbee2mqtt,z/i1\n"
        "hh-i1,,,door,zigbee2mqtt,z/i1door\n"
    )
    bad = good + "hh-i2,cc-zz,Seogyo-dong,motion,zigbee2mqtt,z/i1\n"
    csv_headers = {**registry.admin, "content-type": "text/csv"}
    refused = registry.client.post("/api/v1/import", content=bad, headers=csv_headers)
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert {(e["line"], e["field"]) for e in errors} == {(4, "care_center_id"), (4, "mqtt_topic")}
    assert (
        registry.client.get("/api/v1/households/hh-i1", headers=registry.admin).status_code == 404
    )
    done = registry.client.post("/api/v1/import", content=good, headers=csv_headers)
    assert done.status_code == 201, done.text
    assert done.json()["households_created"] == 1 and done.json()["devices_created"] == 2
    assert len(registry.ok("GET", "/households/hh-i1/devices")) == 2
    staff = registry.token("staff", "cc-a")
    assert (
        registry.client.post(
            "/api/v1/import", content=good, headers={**staff, "content-type": "text/csv"}
        ).status_code
        == 403
    )
    assert (
        json.loads(
            registry.client.post("/api/v1/import", content=b"\xff\xfe", headers=csv_headers).text
        )["field"]
        == "body"
    )


def test_a_call_schedule_is_checked_once_kept_canonical_and_published(registry: Api) -> None:
    home = _home(registry, "cc-a", "Seogyo-dong", "zigbee2mqtt/a")
    hh = home["household_id"]
    path = f"/households/{hh}"
    refused = registry.client.patch(
        "/api/v1" + path, headers=registry.admin, json={"checkin_schedule": "mon 25:00"}
    )
    assert refused.status_code == 422 and "HH:MM" in refused.text
    assert registry.ok("GET", path)["checkin_schedule"] is None
    changed = registry.ok("PATCH", path, json={"checkin_schedule": " Mon-Fri 10:00 ; sat 9:30"})
    assert changed["checkin_schedule"] == "mon-fri 10:00; sat 09:30"

    def published(latest: dict[bytes, bytes]) -> bool:
        value = latest.get(f"household:{hh}".encode(), b"")
        return b"checkin_schedule" in value

    record = parse_registry_record(read_registry(registry.settings, published)[
        f"household:{hh}".encode()])
    assert record.type == "household" and record.checkin_schedule == "mon-fri 10:00; sat 09:30"
    cleared = registry.ok("PATCH", path, json={"checkin_schedule": None})
    assert cleared["checkin_schedule"] is None
