"""``anbu simulate`` writes a backtest CSV, the ground truth and a registry file."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from anbu.registry_records import DeviceRecord, parse_registry_record
from config import Settings
from simulator.demo import demo_simulation, seed_registry
from testkit.processes import run_anbu

KINDS = {"motion", "door", "contact", "presence", "power", "button", "robot", "heartbeat"}


def test_simulate_writes_backtest_files(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = run_anbu(
        "simulate", "--households", "4", "--days", "30", "--seed", "7", "--out", str(out),
        data_dir=tmp_path / "var",
    )
    assert result.returncode == 0, result.stderr
    assert "events from 4 households over 30 days" in result.stdout
    with (out / "events.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["timestamp", "household_id", "device_id", "kind", "value"]
    households = set()
    previous = None
    for stamp, household, device, kind, value in rows[1:]:
        moment = datetime.fromisoformat(stamp)
        assert moment.utcoffset() is not None
        assert previous is None or moment >= previous
        previous = moment
        assert kind in KINDS
        float(value)
        assert device.startswith(household) or device.startswith("gw-")
        households.add(household)
    assert households == {"hh-00001", "hh-00002", "hh-00003", "hh-00004"}

    registry = json.loads((out / "registry.json").read_text())
    records = [
        parse_registry_record(json.dumps(item))
        for group in ("centers", "households", "gateways", "devices")
        for item in registry[group]
    ]
    assert len(registry["households"]) == 4 and len(registry["gateways"]) == 4
    devices = {r.device_id for r in records if isinstance(r, DeviceRecord)}
    used = {row[2] for row in rows[1:] if not row[2].startswith("gw-")}
    assert used <= devices  # every event's device is registered

    truth = json.loads((out / "ground_truth.json").read_text())
    for row in truth:
        assert set(row) == {"household_id", "kind", "start", "end", "registered_away", "device_id"}
        assert datetime.fromisoformat(row["start"]) <= datetime.fromisoformat(row["end"])
    with (out / "ground_truth.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(truth)


def test_simulate_refuses_a_naive_start(tmp_path: Path) -> None:
    result = run_anbu(
        "simulate", "--start", "2026-01-05T00:00", "--out", str(tmp_path / "x"),
        data_dir=tmp_path / "var", timeout_s=60,
    )
    assert result.returncode == 2
    assert "needs a UTC offset" in result.stderr


def test_demo_seeding_is_idempotent(make_settings: Callable[..., Settings]) -> None:
    from devices.db import init_db, session_factory
    from devices.models import Device, Household, Resident

    settings = make_settings()
    simulation = demo_simulation(3, seed=1)
    first = seed_registry(settings, simulation, speed=60)
    again = seed_registry(settings, demo_simulation(3, seed=1), speed=60)
    assert (first.created_households, first.existing_households) == (3, 0)
    assert (again.created_households, again.existing_households) == (0, 3)
    accounts = first.accounts_file.read_text()
    assert accounts == again.accounts_file.read_text()
    assert accounts.count("\tstaff\tcc-") == 3 and "demo.operator\t" in accounts
    with session_factory(init_db(settings))() as session:
        households = session.query(Household).all()
        assert len(households) == 3
        assert all(h.inactivity_hours == pytest.approx(0.4) for h in households)
        assert session.query(Resident).count() == 3
        # Every simulated device except the gateway itself is registered at its topic.
        expected = {
            d.device_id: d.mqtt_topic
            for h in simulation.households
            for d in h.devices
            if d.kind != "gateway"
        }
        assert {d.id: d.mqtt_topic for d in session.query(Device).all()} == expected
