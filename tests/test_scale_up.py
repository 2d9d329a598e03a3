"""Copies of a program under `anbu up` (``stack.workers``, ``stack.bridges``, ...): their own ports,
state and MQTT session. Two workers sharing the partitions of a running stack are checked by
``tests/test_stack_up.py``, on the stack that test starts anyway."""

from __future__ import annotations

from anbu.stack.compose import app_programs
from config import load_settings


def test_copies_get_their_own_ports_state_and_mqtt_session() -> None:
    settings = load_settings(None, {"stack.workers": 3, "stack.bridges": 2, "stack.series": 2})
    programs = {p.spec.name: p.spec for p in app_programs(
        settings, {"web", "bridge", "worker", "alerts", "series"}, demo=False)}
    assert {"worker", "worker-2", "worker-3", "bridge", "bridge-2", "alerts", "series",
            "series-2"} <= set(programs)
    assert "alerts-2" not in programs  # one alerts service unless asked
    assert programs["series-2"].env == {"ANBU_STACK__INSTANCE": "2"}  # no port to move
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
