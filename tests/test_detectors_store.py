"""Idle households kept packed: the same alerts as with every household unpacked."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from anbu.events import AlertEvent
from anbu.partitioning import partition_of
from anbu.registry_records import DeviceRecord, GatewayRecord
from detectors.backtest import Row, make_engine, run_rows
from detectors.engine import Engine
from detectors.exceptions import PackingError
from detectors.household import SOS_KEYS_KEPT, Household
from detectors.packing import pack, unpack
from detectors.params import DetectorParams
from detectors.runtime import Runtime, decode_household, encode_household
from tests.kit.detector_rows import at, routine_rows

HOUSEHOLDS = [f"hh-{i}" for i in range(6)]


def _registry() -> tuple[list[DeviceRecord], list[GatewayRecord]]:
    devices, gateways = [], []
    for hh in HOUSEHOLDS:
        for name, kind in (("motion", "motion"), ("door", "door"), ("kettle", "plug")):
            devices.append(DeviceRecord.model_validate({
                "device_id": f"{hh}-{name}", "household_id": hh, "kind": kind,
                "source_format": "zigbee2mqtt", "mqtt_topic": f"zigbee2mqtt/{hh}_{name}",
                "reporting_interval_s": 6 * 3600}))
        gateways.append(GatewayRecord(gateway_id=f"{hh}-gw", household_id=hh,
                                      mqtt_username=f"{hh}-gw", heartbeat_interval_s=300))
    return devices, gateways


def _stream() -> list[Row]:
    """Three weeks of six residents: routines, doors, a kettle, heartbeats, and trouble.

    hh-0 stops moving on day 20 at 10:00 (a collapse); hh-1's kettle dies on day 10 (a
    device falls silent); hh-2's gateway goes quiet on day 15 for a day; hh-3 presses SOS.
    """
    rows: list[Row] = []
    for i, hh in enumerate(HOUSEHOLDS):
        stop = at(20, 10) if i == 0 else None
        hb_until = at(15, 0) if i == 2 else at(21, 0)
        for t, _, _dev, kind, value in routine_rows(range(21), stop_at=stop,
                                                   heartbeat_until=hb_until, hh=hh):
            device = f"{hh}-gw" if kind == "heartbeat" else f"{hh}-motion"
            rows.append((t + i, hh, device, kind, value))
        if i == 2:
            rows += [(at(16, 0) + 300 * k + i, hh, f"{hh}-gw", "heartbeat", 1.0)
                     for k in range(12 * 24 * 5)]
        for day in range(21):
            if i != 1 or day < 10:
                rows.append((at(day, 8) + 20 + i, hh, f"{hh}-kettle", "power", 1800.0))
                rows.append((at(day, 8) + 320 + i, hh, f"{hh}-kettle", "power", 0.0))
            for hour in (10, 16):  # out and back: door, silence inside, door
                if i == 0 and day == 20:
                    break  # collapsed: no more doors either
                rows.append((at(day, hour) + 13 + i, hh, f"{hh}-door", "door", 1.0))
                rows.append((at(day, hour) + 40 + i, hh, f"{hh}-door", "door", 0.0))
                rows.append((at(day, hour + 1) + 13 + i, hh, f"{hh}-door", "door", 1.0))
                rows.append((at(day, hour + 1) + 40 + i, hh, f"{hh}-door", "door", 0.0))
        if i == 3:
            rows.append((at(12, 14) + 5, hh, f"{hh}-button", "sos", 1.0))  # a CSV button row
    rows.sort(key=lambda r: r[0])
    return rows


def _run(hot: int, model: str = "silences") -> tuple[Engine, list[AlertEvent]]:
    devices, gateways = _registry()
    engine = make_engine(None, devices, gateways, params=replace(
        DetectorParams(), hot_households=hot, routine_model=model))
    alerts = list(run_rows(engine, _stream()))
    return engine, alerts


@pytest.mark.parametrize("model", ["silences", "rates"])
def test_households_packed_between_uses_raise_exactly_the_same_alerts(model: str) -> None:
    everything, expected = _run(hot=0, model=model)
    # at most one household unpacked: packed at every switch
    squeezed, got = _run(hot=1, model=model)

    assert squeezed.households.unpacked > 1000  # packing really happened, many times
    assert len(squeezed.households.cold) == len(HOUSEHOLDS) - 1
    assert not everything.households.cold
    kinds = {(a.household_id, a.kind.value, a.action.value) for a in expected}
    # the scenario has the alerts it was written for, so the comparison means something
    assert ("hh-0", "inactivity_routine", "raise") in kinds
    assert ("hh-1", "device_silent", "raise") in kinds
    assert ("hh-2", "gateway_offline", "raise") in kinds
    assert ("hh-3", "sos", "raise") in kinds
    assert [a.to_json() for a in got] == [a.to_json() for a in expected]


@pytest.mark.parametrize("model", ["silences", "rates"])
def test_a_packed_household_comes_back_with_all_its_state(model: str) -> None:
    engine, _ = _run(hot=0, model=model)
    for hid in HOUSEHOLDS:
        h = engine.households[hid]
        back = unpack(hid, pack(h))
        assert pickle.dumps(back) == pickle.dumps(h)  # every persisted slot, devices, routine
        assert back.due == h.due
    assert engine.households["hh-3"].open  # the SOS is still open: open alerts are packed too


def test_damaged_packed_bytes_are_refused_with_a_clear_error() -> None:
    engine, _ = _run(hot=0)
    raw = pack(engine.households["hh-1"])
    with pytest.raises(PackingError, match="damaged"):
        unpack("hh-1", raw[:-7])
    with pytest.raises(PackingError, match="left over"):
        unpack("hh-1", raw + b"\0")
    with pytest.raises(PackingError, match="not a packed household"):
        unpack("hh-1", pickle.dumps(engine.households["hh-1"]))


def test_the_saved_form_holds_a_packed_household_and_older_pickles_still_load() -> None:
    rt = Runtime(DetectorParams(hot_households=1), partitions=2)
    t = at(0, 9)
    for hh in HOUSEHOLDS:
        rt.state(partition_of(hh, 2)).engine.observe(hh, f"{hh}-door", "door", 1.0, t)
    saved = {hid: raw for p in (0, 1) for hid, raw in rt.snapshot(p, (41, 7)).items()}
    assert sorted(saved) == HOUSEHOLDS
    h, as_of = decode_household(saved["hh-4"])
    assert (h.hid, h.last_door, as_of) == ("hh-4", t, (41, 7))

    old = Household("hh-9")  # state saved by the previous version: a bare pickle
    old.last_activity = t
    back, as_of = decode_household(pickle.dumps(old))
    assert (back.hid, back.last_activity) == ("hh-9", t)
    assert encode_household("hh-9", pack(back), (1, 2))[:4] == b"hh2\x00"


def test_every_field_of_a_household_is_persisted_and_none_costs_a_dict() -> None:
    # the state is spread over the household and its mixins (alerts, devices, care): a field
    # added to one of them must be in the pickled order too, and no part may add a __dict__
    slots = {s for cls in Household.__mro__ for s in getattr(cls, "__slots__", ())}
    assert slots == set(Household._FIELDS)
    assert not hasattr(Household("hh-1"), "__dict__")
    old = Household("hh-1")
    old.last_door, old.long_out, old.hb_interval = 1.0, 2.0, 3.0
    back = pickle.loads(pickle.dumps(old))
    assert (back.last_door, back.long_out, back.hb_interval) == (1.0, 2.0, 3.0)
    # positive control: a field the pickled order leaves out is lost on the way
    assert "due" not in Household._PERSISTED and "cfg" not in Household._PERSISTED


def test_compacting_the_deadline_queue_reads_packed_households_without_unpacking() -> None:
    engine, _ = _run(hot=2)
    before = engine.households.unpacked
    dues = engine.households.dues()
    assert engine.households.unpacked == before
    assert sorted(dues) == HOUSEHOLDS
    assert all(dues[hid] == engine.households[hid].due for hid in HOUSEHOLDS)


T = at(0, 9)  # 09:00 on the first day, when the packing tests see their households


def one_hot() -> Engine:
    """An engine that keeps one household unpacked: each new one packs the one before."""
    return make_engine(params=DetectorParams(hot_households=1))


def test_a_household_that_cannot_be_packed_stays_watched_and_blocks_no_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = one_hot()
    engine.observe("hh-big", "door-1", "door", 1.0, T)
    # a device id no packed form can hold (ids are at most 64 characters in practice)
    engine.households["hh-big"].register_device("x" * 70_000, "door", 3600.0, False, T)
    for i, hh in enumerate(("hh-a", "hh-b", "hh-c")):
        engine.observe(hh, "motion", "motion", 1.0, T + i)  # each evicts the oldest
    assert "cannot be packed" in caplog.text
    assert "hh-big" in engine.households.hot  # kept as an object, state intact
    assert {"hh-a", "hh-b"} <= set(engine.households.cold)  # the others were packed
    sos = engine.sos("hh-new", "button-1", "button", T + 10)
    assert sos and sos[0].kind.value == "sos"

    rt = Runtime(DetectorParams(), partitions=1)
    rt.states[0] = rt.state(0)
    rt.states[0].engine = engine
    saved = rt.snapshot(0, (1, 1))
    assert "hh-big" not in saved and {"hh-a", "hh-b", "hh-c", "hh-new"} <= set(saved)


def test_unreadable_packed_bytes_start_the_household_afresh_instead_of_failing_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = one_hot()
    engine.observe("hh-a", "motion", "motion", 1.0, T)
    engine.observe("hh-b", "motion", "motion", 1.0, T)  # packs hh-a
    engine.households.cold["hh-a"] = engine.households.cold["hh-a"][:-5]
    engine.observe("hh-a", "motion", "motion", 1.0, T + 60)
    assert "unreadable, starting it afresh" in caplog.text
    assert engine.households["hh-a"].last_activity == T + 60


def test_a_household_remembers_a_bounded_number_of_unregistered_devices() -> None:
    from detectors.household import MAX_DEVICES

    engine = make_engine()
    for i in range(MAX_DEVICES + 50):
        engine.observe("hh-a", f"contact-{i}", "contact", 1.0, at(0, 9) + i)
    assert len(engine.households["hh-a"].devices or {}) == MAX_DEVICES
    assert engine.households["hh-a"].last_activity == at(0, 9) + MAX_DEVICES + 49


def test_the_worker_budget_of_unpacked_households_is_shared_by_its_partitions() -> None:
    rt = Runtime(DetectorParams(hot_households=10_000), partitions=4)
    assert rt.state(0).engine.households.limit == 2_500
    unlimited = Runtime(DetectorParams(hot_households=0), partitions=4)
    assert unlimited.state(1).engine.households.limit == 0


def test_the_sos_keys_survive_packing_and_a_copy_of_a_press_counts_once() -> None:
    engine = Engine(DetectorParams())
    t = 1_800_000_000.0
    assert engine.sos("hh-1", "btn", "button", t, None, "m-1")
    assert engine.sos("hh-1", "btn", "button", t + 1, None, "m-1") is None  # another bridge
    h = unpack("hh-1", pack(engine.households["hh-1"]))
    assert h.sos_keys == ("m-1",)
    h.cfg = engine.configs.get("hh-1", h.cfg)
    assert h.sos(t + 2, "btn", "button", None, engine.p, "m-1") is None  # after unpacking
    again = h.sos(t + 3, "btn", "button", None, engine.p, "m-2")  # the control: a new press
    assert again and again[0].details["presses"] == 2
    for n in range(3, 3 + SOS_KEYS_KEPT):
        h.sos(t + n + 1, "btn", "button", None, engine.p, f"m-{n}")
    assert h.sos_keys is not None and len(h.sos_keys) == SOS_KEYS_KEPT  # bounded
    assert unpack("hh-1", pack(h)).sos_keys == h.sos_keys
    # a household packed without keys reads as before
    assert unpack("hh-2", pack(engine.household("hh-2"))).sos_keys is None
    # a household pickled before the keys were kept loads without them
    older = Household.__new__(Household)
    older.__setstate__(tuple(getattr(h, n) for n in Household._PERSISTED if n != "sos_keys"))
    assert older.sos_keys is None and older.last_sos == h.last_sos
