"""The weekly review's input: ``anbu series`` stores the events the review reads, over real
Kafka and InfluxDB, and the review replays them as it replays a recorded file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from anbu.events import EventKind
from anbu.influx import InfluxClient
from config import Settings
from detectors.review import Review
from simulator.plan import IncidentRates, Withdrawal
from simulator.world import Simulation, SimulationConfig
from testkit import polling
from testkit.publishing import publish_events, publish_registry
from tests.kit.series import FAST_WRITER, demo_window
from timeseries.demo import demo_registry
from timeseries.review_input import HOUR, ReviewInput, kept_whole, read_rows, rows_to_points
from timeseries.writer import BackgroundWriter


@pytest.mark.usefixtures("fail_on_logged_errors")  # the writer logs no error
def test_series_writer_keeps_what_the_review_reads(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(FAST_WRITER)
    start, end, events = demo_window(4, hours=8)
    rows = [
        (e.event_time.timestamp(), e.household_id, e.device_id, e.kind.value, e.value)
        for e in events
    ]
    # What the writer should keep: the same thinning over the same events.
    expected = {
        (round(p.time.timestamp(), 6), p.tags["household"], p.tags["device"], k, v)
        for p in rows_to_points(rows) for k, v in p.fields.items()
    }
    households = sorted({e.household_id for e in events})
    client = InfluxClient.from_settings(settings)

    def stored() -> set[tuple[float, str, str, str, float]]:
        got = read_rows(client, households, start - timedelta(minutes=1), end)
        return {(round(t, 6), h, d, k, v) for t, h, d, k, v in got}

    with BackgroundWriter(settings) as running:
        publish_registry(settings, demo_registry(4))
        publish_events(settings, events)
        # a replay of the same batches (the bridge redelivers) adds nothing
        publish_events(settings, events[:200])
        polling.wait_for(lambda: len(stored()) >= len(expected), 60, step_s=0.3)
        polling.wait_for(lambda: running.writer.rollup.duplicates >= 200, 30, step_s=0.3)
        running.flush()
    got = stored()
    assert got == expected
    # Every door and motion start is kept; plugs and batteries once a device-hour.
    doors = {(round(e.event_time.timestamp(), 6), e.device_id) for e in events
             if e.kind is EventKind.DOOR}
    assert doors and doors == {(t, d) for t, _, d, k, _ in got if k == "door"}
    starts = sum(1 for e in events if e.kind is EventKind.MOTION and e.value >= 0.5)
    assert starts > 0 and starts == sum(1 for r in got if r[3] == "motion" and r[4] >= 0.5)
    thinned = Counter((d, k, int(t) // HOUR) for t, _, d, k, v in got if not kept_whole(k, v))
    assert thinned and max(thinned.values()) == 1
    plugs = sum(1 for e in events if e.kind is EventKind.POWER)
    # positive control: a plug's readings were thinned, not all dropped
    assert plugs > sum(1 for r in got if r[3] == "power") > 0


def test_the_thinned_events_give_the_review_the_same_weeks() -> None:
    """Simulated homes at the live pace (a heartbeat a minute), ten weeks, one resident
    withdrawing: the review of what the writer keeps equals the review of every event."""
    config = SimulationConfig(
        households=2, days=70, seed=1, rates=IncidentRates(collapse=0.0),
        withdrawal=Withdrawal(frozenset({1}), first_day=23, days=40, depth=0.6),
    )
    simulation = Simulation(config)
    every, thinned, picker = Review(), Review(), ReviewInput()
    total = kept = 0
    for index in range(len(simulation.households)):
        for e in simulation.household_events(index):
            total += 1
            every.observe(e.t, e.household_id, e.device_id, e.kind, e.value)
            if picker.keep(e.t, e.household_id, e.device_id, e.kind, e.value):
                kept += 1
                thinned.observe(e.t, e.household_id, e.device_id, e.kind, e.value)
            picker.drain()
    end = simulation.end_epoch or 0.0
    every.finish(end)
    thinned.finish(end)
    assert kept < total / 5  # most events are heartbeats and plugs' reports
    weeks = every.weeks()
    assert len(weeks) >= 10 and thinned.weeks() == weeks
    for week in weeks:
        assert [(j.household_id, j.stats, j.declined) for j in thinned.ranked(week)] == [
            (j.household_id, j.stats, j.declined) for j in every.ranked(week)
        ]
    # positive control: the withdrawing resident's last week is a decline, the other's not
    last = {j.household_id: j.declined for j in every.ranked(weeks[-1])}
    assert last == {"hh-00001": True, "hh-00002": False}
