"""Simulated quiet spells depend on the room, as real ones do; collapses happen in rooms."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from anbu.timeutil import SEOUL
from bench.silence_rooms import RoomSilences, home_rooms, main, room_of
from simulator.model import IncidentKind
from simulator.plan import NO_INCIDENTS
from simulator.world import Simulation, SimulationConfig

HOUR = 3600.0


@pytest.fixture(scope="module")
def simulated() -> RoomSilences:
    sim = Simulation(SimulationConfig(households=12, days=21, seed=21, rates=NO_INCIDENTS))
    pooled = RoomSilences()
    for index in range(12):
        rows = [(e.t, e.household_id, e.device_id, e.kind, e.value)
                for e in sim.household_events(index)]  # fmt: skip
        pooled.merge(home_rooms(rows))
    return pooled


def _day_log(first_room_gap: dict[str, float]) -> list[tuple[float, str, str, str, float]]:
    """A synthetic home: each day, a burst in every room then the given silence after it."""
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=SEOUL).timestamp()
    rows: list[tuple[float, str, str, str, float]] = []
    for day in range(5):
        t = t0 + day * 24 * HOUR
        for room, gap in first_room_gap.items():
            device = f"x_{room.capitalize()}"
            for k in range(4):  # four detections a minute apart: active there
                rows.append((t + 60 * k, "x", device, "motion", 1.0))
                rows.append((t + 60 * k + 30, "x", device, "motion", 0.0))
            t += 180 + gap
        # then a sensor of no known room: the night's silence is not counted to the last room
        rows.append((t, "x", "x_Hall", "motion", 1.0))
    return rows


def test_simulated_silences_are_longer_and_likelier_after_the_living_room_than_the_kitchen(
    simulated: RoomSilences,
) -> None:
    """Real logs (bench/silence_rooms.py): 1.05 h mean excess over 30 min after the living
    room, 0.32 h after the kitchen; 1.02 against 0.40 such silences per hour last seen."""
    s = simulated
    assert all(s.count[r] for r in ("living", "bedroom", "kitchen"))
    # settling rooms: longer spells, a longer tail, and more of them per hour spent there
    for settled in ("living", "bedroom"):
        assert s.mean_excess(settled) > 1.3 * s.mean_excess("kitchen")
        assert s.share_over_2h(settled) > 2 * s.share_over_2h("kitchen")
        assert s.rate(settled) > 1.3 * s.rate("kitchen")
        assert s.rate(settled) > 2 * s.rate("bathroom")


def test_the_room_measure_can_say_the_kitchen_is_longer() -> None:
    """Control for the test above: the measure reports what the log holds, either way."""
    kitchen_long = home_rooms(_day_log({"living": 40 * 60, "kitchen": 3 * HOUR}))
    assert kitchen_long.mean_excess("kitchen") == pytest.approx(2.5, abs=0.01)
    assert kitchen_long.mean_excess("living") == pytest.approx(10 / 60, abs=0.01)
    living_long = home_rooms(_day_log({"kitchen": 40 * 60, "living": 3 * HOUR}))
    assert living_long.mean_excess("living") > living_long.mean_excess("kitchen")
    # a silence of under 30 min is exposure, not a silence
    short = home_rooms(_day_log({"kitchen": 20 * 60, "living": 20 * 60}))
    assert short.count["kitchen"] == 0
    assert short.exposure["kitchen"] > 0
    assert short.rate("kitchen") == 0.0


def test_room_of_reads_real_and_simulated_device_names() -> None:
    assert room_of("Seat_Living") == "living"
    assert room_of("MotionD_Ba") == "bathroom"
    assert room_of("ka-s24") == "bedroom"
    assert room_of("ka-s12") == "entrance"
    assert room_of("hh-00003-motion-kitchen") == "kitchen"
    assert room_of("hh-00003-presence-bed") == "bedroom"
    assert room_of("hh-00003-gw") is None
    assert room_of("kb-s28") is None  # van Kasteren B's ids are not mapped to rooms


def test_daytime_collapses_happen_in_several_rooms_mostly_bedroom_and_bathroom() -> None:
    rates = dataclasses.replace(
        NO_INCIDENTS, collapse=1.0, daytime_collapse=1.0, first_incident_day=3
    )
    sim = Simulation(SimulationConfig(households=40, days=8, seed=9, rates=rates))
    truth = {i.household_id: i for i in sim.ground_truth() if i.kind is IncidentKind.COLLAPSE}
    rooms: Counter[str] = Counter()
    for index, household in enumerate(sim.households):
        if household.household_id not in truth:
            continue  # its collapse falls after the simulated days
        collapse = truth[household.household_id].start.timestamp()
        hour = datetime.fromtimestamp(collapse, SEOUL).hour
        seen = [e for e in sim.household_events(index)
                if e.kind in ("motion", "door") and e.value == 1 and e.t <= collapse]  # fmt: skip
        if not 8 <= hour < 20 or not seen or seen[-1].kind == "door":
            continue  # at night, or collapsed while out
        room = room_of(seen[-1].device_id)
        assert room is not None
        rooms[room] += 1
    total = sum(rooms.values())
    assert total >= 20
    assert len(rooms) >= 4, rooms
    assert (rooms["bedroom"] + rooms["bathroom"]) / total >= 0.35, rooms
    assert max(rooms.values()) / total <= 0.6, rooms


def test_silence_rooms_prints_a_table_for_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["timestamp,household_id,device_id,kind,value"]
    for t, hid, dev, kind, value in _day_log({"living": 2 * HOUR, "kitchen": 40 * 60}):
        stamp = datetime.fromtimestamp(t, SEOUL).isoformat()
        lines.append(f"{stamp},{hid},{dev},{kind},{int(value)}")
    (tmp_path / "home.csv").write_text("\n".join(lines) + "\n")
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| real, pooled | living | " in out
    assert "| home | kitchen | " in out
