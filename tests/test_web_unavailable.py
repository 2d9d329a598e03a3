"""When InfluxDB cannot be reached, the dashboards say so instead of drawing quiet homes."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from anbu.stack.services import free_port
from config import Settings
from devices.auth import TOKEN_COOKIE
from web.dashboards.standalone import dashboards_app


def test_pages_and_api_answer_503_when_influxdb_is_down(
    make_settings: Callable[..., Settings],
) -> None:
    # Nothing listens on this port: InfluxDB is "down".
    settings = make_settings({"influx.url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(dashboards_app(settings)) as http:
        auth = {"Authorization": f"Bearer {settings.admin_token()}"}
        answer = http.get("/api/v1/dashboard/households/hh-1?range=24h", headers=auth)
        assert answer.status_code == 503
        assert "InfluxDB" in answer.json()["detail"]
        http.cookies.set(TOKEN_COOKIE, settings.admin_token())  # signed in, as a browser is
        page = http.get("/?lang=en")
        assert page.status_code == 503
        assert "time-series database cannot be reached" in page.text
        assert 'id="page-data"' not in page.text  # no chart drawn from nothing
