"""The buffered InfluxDB writer flushed from two threads at once, on a real InfluxDB.

The alerts service's last write at shutdown ran beside a periodic one still running in its
worker thread: both wrote the same batch and the second popped it again (``IndexError`` from
an empty deque, or, with more queued, points dropped unwritten). Found by CI.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from anbu.influx import BufferedWriter, InfluxClient, Point
from anbu.timeutil import utcnow
from testkit.services import RunningService

BATCH = 200


def _count(client: InfluxClient) -> int:
    series = client.query('SELECT count("v") FROM "race"')
    return int(series[0]["values"][0][1]) if series else 0


def _flush_together(writer: BufferedWriter) -> tuple[list[bool], list[BaseException]]:
    """Two threads call ``flush`` at the same moment; what each returned or raised."""
    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def flush() -> None:
        barrier.wait()
        try:
            results.append(writer.flush(batch_size=BATCH))
        except BaseException as exc:  # noqa: BLE001 - the test reports any of them
            errors.append(exc)

    threads = [threading.Thread(target=flush) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results, errors


def test_two_threads_flushing_write_every_point_once_and_raise_nothing(
    influxdb: RunningService,
) -> None:
    client = InfluxClient(f"http://127.0.0.1:{influxdb.port}", f"race_{uuid.uuid4().hex[:8]}")
    client.create_database()
    writer = BufferedWriter(client)
    start = utcnow()
    written = 0
    try:
        for round_ in range(3):
            # two batches queued: a double pop would drop the second one unwritten
            points = [Point("race", {"v": i}, start + timedelta(seconds=round_, microseconds=i))
                      for i in range(2 * BATCH)]
            writer.add(points)
            written += len(points)
            results, errors = _flush_together(writer)
            assert errors == [] and results == [True, True]
            assert writer.pending == 0
            # positive control of the count: the points are there, each once
            assert _count(client) == written
    finally:
        client.close()
