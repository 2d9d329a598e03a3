"""Hostile inputs to the web process, served by uvicorn as ``anbu web`` serves it.

Non-finite numbers, oversized bodies and fields, long URLs and headers: each gets a clear
4xx (422, 413, 414, 431), never a 5xx nor a dropped connection, and a valid request just
under each limit still goes through.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from anbu.stack.services import free_port
from config import Settings
from web.app import create_app
from web.server import server_config


@dataclass
class Web:
    client: httpx.Client
    settings: Settings
    admin: dict[str, str]

    def post(self, path: str, body: bytes | str, ctype: str = "application/json",
             **kw: Any) -> httpx.Response:
        headers = {**self.admin, "Content-Type": ctype, **kw.pop("headers", {})}
        return self.client.post(path, content=body, headers=headers, **kw)


@pytest.fixture
def web(make_settings: Callable[..., Settings]) -> Iterator[Web]:
    settings = make_settings({"web.port": free_port()})
    server = uvicorn.Server(server_config(create_app(settings), settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://{settings.web.host}:{settings.web.port}"
    admin = {"Authorization": f"Bearer {settings.admin_token()}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        center = client.post("/api/v1/centers", headers=admin,
                             json={"care_center_id": "cc-in", "name": "Center", "dongs": ["d"]})
        assert center.status_code == 201, center.text
        yield Web(client, settings, admin)
    server.should_exit = True
    thread.join(30)


def raw_status(web: Web, request: bytes) -> int:
    """The status code the server answers ``request`` with (a reset fails the test)."""
    with socket.create_connection((web.settings.web.host, web.settings.web.port), 30) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed without an answer: {answer!r}"
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def household(**extra: Any) -> dict[str, Any]:
    return {"care_center_id": "cc-in", "dong": "d", **extra}


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_422_everywhere(web: Web, number: str) -> None:
    body = '{"care_center_id": "cc-in", "dong": "d", "inactivity_hours": ' + number + "}"
    refused = web.post("/api/v1/households", body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "inactivity_hours"]
    made = web.post("/api/v1/households", json.dumps(household(inactivity_hours=336)))
    assert made.status_code == 201, made.text  # the control: the largest allowed value
    hh = made.json()["id"]
    patched = web.client.patch(f"/api/v1/households/{hh}", headers=web.admin,
                               content='{"inactivity_hours": ' + number + "}")
    assert patched.status_code == 422, patched.text
    gateway = web.post(f"/api/v1/households/{hh}/gateways",
                       '{"heartbeat_interval_s": ' + number + "}")
    assert gateway.status_code == 422, gateway.text
    # a body that is refused for a string where a number is wrong answers 422 as well
    note = web.post("/api/v1/alerts/al-none/acknowledge", '{"note": ' + number + "}")
    assert note.status_code == 422, note.text
    chart = web.client.get(f"/api/v1/dashboard/devices?limit={number}", headers=web.admin)
    assert chart.status_code == 422, chart.text
    # the CSV import applies the same rule
    csv = f"care_center_id,dong,inactivity_hours\ncc-in,d,{number}\ncc-in,d,336\n"
    imported = web.post("/api/v1/import", csv, "text/csv")
    assert imported.status_code == 422, imported.text
    assert [(e["line"], e["field"]) for e in imported.json()["errors"]] == [
        (2, "inactivity_hours")]


def test_request_bodies_over_their_limit_are_413_and_just_under_are_taken(web: Web) -> None:
    limit = web.settings.web.max_body_bytes
    base = json.dumps(household(notes="x"))

    def padded(size: int) -> str:  # JSON whitespace up to the size (still a valid body)
        return base[:-1] + " " * (size - len(base)) + "}"

    under = web.post("/api/v1/households", padded(limit))
    assert under.status_code == 201, under.text
    over = web.post("/api/v1/households", padded(limit + 1))
    assert over.status_code == 413, over.text
    # without a Content-Length (chunked): counted while read
    chunks = [padded(limit + 1).encode()[i:i + 8192] for i in range(0, limit + 1, 8192)]
    chunked = web.client.post("/api/v1/households", content=iter(chunks),
                              headers={**web.admin, "Content-Type": "application/json"})
    assert chunked.status_code == 413, chunked.text
    # every router: the inbox's too
    note = web.post("/api/v1/alerts/al-none/acknowledge", padded(limit + 1))
    assert note.status_code == 413, note.text

    # the CSV import has its own, larger limit; blank lines are skipped by CSV readers
    csv_limit = web.settings.registry.max_import_bytes
    assert csv_limit > limit
    rows = "care_center_id,dong\r\ncc-in,d\r\n"
    fill = csv_limit - len(rows)
    taken = web.post("/api/v1/import", rows + "\r\n" * (fill // 2) + " " * (fill % 2),
                     "text/csv")
    assert taken.status_code == 201, taken.text
    assert taken.json()["households_created"] == 1
    # the attack of issue 14: a 20 MB field
    huge = web.post("/api/v1/import", "care_center_id,dong\r\ncc-in," + "d" * 20_000_000,
                    "text/csv")
    assert huge.status_code == 413, huge.text


def test_the_csv_import_enforces_every_field_rule_of_the_api(web: Web) -> None:
    def imported(rows: str, header: str = "care_center_id,dong") -> httpx.Response:
        return web.post("/api/v1/import", f"{header}\n{rows}", "text/csv")

    # a field over the CSV reader's limit, inside the body limit
    long_field = imported("cc-in," + "d" * 200_000 + "\n")
    assert long_field.status_code == 422, long_field.text
    assert long_field.json()["errors"][0]["reason"].startswith("a field is longer than")
    # a dong longer than its database column (100) is refused by the API and the import
    api = web.post("/api/v1/households", json.dumps(household(dong="d" * 101)))
    assert api.status_code == 422, api.text
    assert web.post("/api/v1/households",
                    json.dumps(household(dong="d" * 100))).status_code == 201
    long_dong = imported("cc-in," + "d" * 201 + "\n")
    assert long_dong.status_code == 422, long_dong.text
    assert long_dong.json()["errors"][0]["field"] == "dong"
    assert imported("cc-in," + "d" * 101 + "\n").status_code == 422
    ok = imported("cc-in," + "d" * 100 + "\n")
    assert ok.status_code == 201, ok.text
    # escalation delays: at most 10 tiers (as the API), each 0 to 7 days
    header = "care_center_id,dong,escalation_delays_s"
    eleven = imported("cc-in,d," + ";".join(["60"] * 11) + "\n", header)
    assert eleven.status_code == 422 and eleven.json()["errors"][0]["field"] == \
        "escalation_delays_s", eleven.text
    api_eleven = web.post("/api/v1/households",
                          json.dumps(household(escalation_delays_s=[60] * 11)))
    assert api_eleven.status_code == 422, api_eleven.text
    assert imported("cc-in,d," + ";".join(["604800"] * 10) + "\n", header).status_code == 201
    # a device's room and reporting interval, by the API's rules
    header = "care_center_id,dong,device_kind,source_format,mqtt_topic,room,reporting_interval_s"
    bad = imported("cc-in,d,motion,zigbee2mqtt,z2m/m1," + "r" * 101 + ",0\n", header)
    assert bad.status_code == 422, bad.text
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["reporting_interval_s", "room"]
    good = imported("cc-in,d,motion,zigbee2mqtt,z2m/m1," + "r" * 100 + ",604800\n", header)
    assert good.status_code == 201, good.text


def test_long_urls_and_headers_get_414_and_431_not_a_reset(web: Web) -> None:
    max_url = web.settings.web.max_url_bytes
    path = "/api/v1/households?pad="  # a parameter the route ignores
    fits = web.client.get(path + "d" * (max_url - len(path) - 100), headers=web.admin)
    assert fits.status_code == 200, fits.text  # the control, just under the limit
    long = web.client.get(path + "d" * max_url, headers=web.admin)
    assert long.status_code == 414, long.text
    for size in (100_000, 500_000):  # longer than httpx sends: written to a socket
        head = f"GET {path}{'d' * size} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        assert raw_status(web, head) == 414, size
    # past what the HTTP server reads of a request head at all: 431, still no reset
    head_limit = web.settings.web.max_request_head_bytes
    head = f"GET {path}{'d' * 2 * head_limit} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert raw_status(web, head) == 431
    max_headers = web.settings.web.max_header_bytes
    small = web.client.get("/healthz", headers={"X-Pad": "p" * (max_headers // 2)})
    assert small.status_code == 200
    big = web.client.get("/healthz", headers={"X-Pad": "p" * 100_000})
    assert big.status_code == 431, big.text
    # and the server still serves
    assert web.client.get("/healthz").status_code == 200
