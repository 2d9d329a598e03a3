"""`anbu up` with ``stack.workers = 2``: two detector workers share the partitions."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from anbu.stack.compose import app_programs
from config import load_settings
from testkit import processes
from tests.kit.up import ctrl_c, start_up, status, up_env

LOADED = re.compile(r"partition (\d+): restored")


def test_copies_get_their_own_ports_state_and_mqtt_session() -> None:
    settings = load_settings(None, {"stack.workers": 3, "stack.bridges": 2})
    programs = {p.spec.name: p.spec for p in app_programs(
        settings, {"web", "bridge", "worker", "alerts", "series"}, demo=False)}
    assert {"worker", "worker-2", "worker-3", "bridge", "bridge-2", "alerts"} <= set(programs)
    assert "alerts-2" not in programs  # one alerts service unless asked
    ports = [programs[n].port for n in ("worker", "worker-2", "worker-3")]
    assert len(set(ports)) == 3
    assert programs["worker-3"].env["ANBU_STACK__INSTANCE"] == "3"
    assert programs["bridge-2"].env["ANBU_INGEST__CLIENT_ID"].endswith("-2")
    assert programs["worker"].env == {}
    # Several bridges share the subscription; a lone one subscribes plainly (issue #14).
    assert "mqtt.shared_group=" not in programs["bridge"].argv
    lone = app_programs(load_settings(None, {"stack.bridges": 1}), {"bridge"}, demo=False)
    assert lone[0].spec.argv[-3:] == ["--set", "mqtt.shared_group=", "bridge"]


def test_copies_never_take_a_port_of_another_program() -> None:
    """Three bridges from 9108 would reach the alerts service's 9110 (found in issue #16)."""
    settings = load_settings(None, {"stack.bridges": 3, "stack.workers": 3, "stack.alerts": 3})
    names = {"web", "bridge", "worker", "alerts", "series"}
    specs = [p.spec for p in app_programs(settings, names, demo=False)]
    ports = {s.name: s.port for s in specs if s.port is not None}
    assert len(ports) == 10  # web, and three of each service that listens
    assert len(set(ports.values())) == len(ports), ports
    assert ports["bridge-3"] != settings.alerts.metrics_port  # the clash, now avoided
    assert ports["bridge-2"] == settings.ingest.metrics_port + 1  # next one when it is free
    for spec in specs:
        if spec.port is not None and spec.name != "web" and "-" in spec.name:
            assert str(spec.port) in spec.env.values(), spec  # the copy is told its port


@pytest.mark.slow
def test_anbu_up_runs_two_workers_sharing_the_partitions(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = up_env(data_dir)
    env["ANBU_STACK__WORKERS"] = "2"
    up = start_up(env, tmp_path, tmp_path / "up.log")
    try:
        logs = [data_dir / "log" / "worker.log", data_dir / "log" / "worker-2.log"]
        deadline = time.monotonic() + 240
        owned: list[set[int]] = [set(), set()]
        while time.monotonic() < deadline:
            rows = status(env).rows
            owned = [set(map(int, LOADED.findall(p.read_text()))) if p.exists() else set()
                     for p in logs]
            running = all(rows.get(n, ("", 0))[0] == "RUNNING" for n in ("worker", "worker-2"))
            if running and all(owned) and owned[0] | owned[1] == {0, 1, 2, 3}:
                break
            time.sleep(2)
        assert all(owned), (owned, (tmp_path / "up.log").read_text()[-2000:])
        assert owned[0] | owned[1] == {0, 1, 2, 3}
        # each has its own RocksDB directory
        assert (data_dir / "detectors").is_dir() and (data_dir / "detectors-2").is_dir()
        assert ctrl_c(up) == 0
    finally:
        processes.kill(up)
