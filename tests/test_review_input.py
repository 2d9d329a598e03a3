"""The weekly review's input: ``anbu series`` stores the events the review reads, over real
Kafka and InfluxDB, and the review replays them as it replays a recorded file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from anbu.events import EventKind
from anbu.influx import InfluxClient
from anbu.timeutil import utcnow
from config import Settings
from testkit import polling
from testkit.publishing import publish_events, publish_registry
from timeseries.demo import demo_events, demo_registry
from timeseries.review_input import HOUR, kept_whole, read_rows, rows_to_points
from timeseries.writer import BackgroundWriter

FAST = {"series.flush_interval": "300ms", "series.health_snapshot_interval": "1s"}


@pytest.mark.usefixtures("fail_on_logged_errors")  # the writer logs no error
def test_series_writer_keeps_what_the_review_reads(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(FAST)
    end = utcnow()
    start = end - timedelta(hours=8)
    events = list(demo_events(4, start, end))
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
