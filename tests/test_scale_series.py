"""Several ``anbu series`` processes share ``anbu.events`` through their consumer group.

While events stream in, a third joins (the others hand partitions over with counts not yet
written) and the first is SIGKILLed; the others take its partitions over, resume after the
last offsets written to InfluxDB with the counts, and every event is counted exactly once:
the activity counts in InfluxDB equal the events sent, bucket by bucket, and so does the
sum of ``events_rate``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from anbu.events import DeviceEvent
from anbu.influx import InfluxClient, InfluxError
from config import Settings
from testkit.polling import wait_for
from testkit.publishing import publish_events
from tests.kit.series import assigned, motion_events, start_series, stop_and_show
from timeseries.rollup import bucket_start

HOUSEHOLDS = 40
FAST = {"series.flush_interval": "500ms"}


def _counts(settings: Settings) -> Counter[tuple[str, int]]:
    got: Counter[tuple[str, int]] = Counter()
    try:
        rows = InfluxClient.from_settings(settings).query(
            "SELECT \"count\" FROM activity_5m WHERE kind = 'motion' AND time > now() - 1d "
            "GROUP BY household tz('UTC')")
    except InfluxError:  # no database yet
        return got
    for series in rows:
        for stamp, count in series["values"]:
            when = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
            got[(series["tags"]["household"], when)] = count
    return got


def _rate_total(settings: Settings) -> int:
    rows = InfluxClient.from_settings(settings).query(
        "SELECT sum(\"count\") FROM events_rate WHERE time > now() - 1d")
    return int(rows[0]["values"][0][1]) if rows else 0


def test_series_writers_joining_and_killed_midway_count_every_event_once(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(FAST)
    logs = [tmp_path / "series-1.log", tmp_path / "series-2.log"]
    writers = [start_series(settings, {**FAST, "stack.instance": n + 1}, logs[n])
               for n in range(2)]
    expected: Counter[tuple[str, int]] = Counter()

    def send(events: list[DeviceEvent]) -> None:
        expected.update((e.household_id, bucket_start(e.event_time)) for e in events)
        publish_events(settings, events, batch_size=5)

    try:
        # both in the group, two partitions each
        wait_for(lambda: all(a and len(a[-1]) == 2 for a in map(assigned, logs)), 90,
                 step_s=0.5, what="the two writers share the four partitions")
        send(motion_events("first", 400, HOUSEHOLDS))
        wait_for(lambda: sum(_counts(settings).values()) == 400, 60,
                 step_s=0.5, what="the first 400 counted")
        # a stream, and writer 1 killed in the middle of it
        second = motion_events("second", 1200, HOUSEHOLDS)

        def stream() -> None:
            for i in range(0, len(second), 100):
                send(second[i:i + 100])
                time.sleep(0.2)

        streaming = threading.Thread(target=stream)
        streaming.start()
        time.sleep(1.0)
        # a third writer joins: the others hand partitions over with counts not yet written
        logs.append(tmp_path / "series-3.log")
        writers.append(start_series(settings, {**FAST, "stack.instance": 3}, logs[2]))
        wait_for(lambda: bool(assigned(logs[2])), 60, step_s=0.5, what="the third writer joined")
        os.killpg(writers[0].pid, signal.SIGKILL)
        writers[0].wait()
        streaming.join()
        wait_for(lambda: sorted(assigned(logs[1])[-1] + assigned(logs[2])[-1]) == [0, 1, 2, 3],
                 90, step_s=0.5, what="writers 2 and 3 took the killed writer's partitions")
        total = 400 + len(second)
        wait_for(lambda: sum(_counts(settings).values()) >= total, 90,
                 step_s=0.5, what="every event counted")
        time.sleep(3)  # a few more flushes: anything counted twice would show now
        assert _counts(settings) == expected
        assert sum(expected.values()) == total
        assert _rate_total(settings) == total  # events_rate: each event once too
        assert writers[1].poll() is None and writers[2].poll() is None
    finally:
        stop_and_show(writers, logs)
