"""The detector worker killed with SIGKILL in the middle of a burst loses no alert."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from anbu.events import DeviceEvent, EventBatch, SosCause, SosEvent, SourceFormat
from anbu.registry_records import HouseholdRecord
from config import Settings
from detectors.backtest import run_backtest
from detectors.offsets import progress_key
from tests.kit import detector_worker as dw

RATE = 150
"""Event records a second in the live stream: the 3,900 records after the head take 26 s (39 s
at 100 a second), still long enough for the two kills and restarts (seconds each) to come
while it arrives."""


def burst() -> list[Any]:
    """Households that fall silent and come back at different hours of the last day (the
    routine model knows every hour of the week by then); one stays silent; one presses SOS."""
    households: dict[str, list[DeviceEvent]] = {}
    for n in range(10):
        hh = f"hh-{n}"
        # 10 h silences (the silences model alerts 5-10 h into one), back by 22:00
        households[hh] = dw.resident(hh, dw.DAYS - 1, 480 + 30 * n, min(1080 + 30 * n, 1320))
    households["hh-silent"] = dw.resident("hh-silent", dw.DAYS - 1, 600, None)
    stream = sorted((e for evs in households.values() for e in evs), key=lambda e: e.event_time)
    moment = dw.START + timedelta(days=dw.DAYS - 1, hours=20)
    sos = SosEvent(household_id="hh-0", device_id="btn-0", cause=SosCause.BUTTON,
                   event_time=moment, receive_time=moment, source_format=SourceFormat.ANBU,
                   idempotency_key="sos-crash")
    registry = [HouseholdRecord(household_id=hh, care_center_id="cc-1", dong="d")
                for hh in households]
    return [*registry, *dw.batches(stream), sos]


class Progress:
    """How many event records the worker has saved as processed: the offsets its checkpoints
    wrote to the state table's changelog."""

    def __init__(self, settings: Settings) -> None:
        topic = f"{settings.detectors.app_id}-household-state-changelog"
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                                      enable_auto_commit=False)
        self.parts = [TopicPartition(topic, p)
                      for p in range(settings.kafka.topics.partitions)]
        self.events_prefix = progress_key(settings.kafka.topics.events, 0)[:-1]
        self.saved: dict[bytes, int] = {}
        self.assigned = False

    def records(self) -> int:
        if not self.assigned:
            try:
                self.consumer.assign(self.parts)
                self.consumer.seek_to_beginning(*self.parts)
                self.assigned = True
            except Exception:  # the worker has not declared the changelog yet
                return 0
        for batch in self.consumer.poll(timeout_ms=50).values():
            for m in batch:
                if m.key and m.key.startswith(self.events_prefix) and m.value:
                    self.saved[m.key] = int(m.value) + 1
        return sum(self.saved.values())

    def wait_beyond(self, count: int, timeout: float, worker: dw.Worker) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert worker.proc is not None and worker.proc.poll() is None, \
                worker.log.read_text()[-3000:]
            now = self.records()
            if now >= count:
                return now
        raise AssertionError(f"the worker saved fewer than {count} records as processed: "
                             + worker.log.read_text()[-3000:])

    def close(self) -> None:
        self.consumer.close()


def test_a_worker_killed_mid_burst_loses_no_alert(
    det_settings: Settings, worker: dw.Worker
) -> None:
    records = burst()
    expected = dw.pairs_of(run_backtest(dw.flatten(records)))
    assert len(expected) >= 20
    events_records = sum(1 for r in records if isinstance(r, DeviceEvent | EventBatch))

    reader = dw.AlertReader(det_settings)
    progress = Progress(det_settings)
    head = sum(1 for r in records if isinstance(r, HouseholdRecord)) + events_records // 10
    dripping = threading.Thread(target=dw.drip, args=(det_settings, records[head:], RATE),
                                daemon=True)
    try:
        dw.produce(det_settings, records[:head])
        worker.start()
        dripping.start()
        # the stream arrives live; the worker is killed in the learning weeks, a while after
        # a checkpoint (records processed but not saved), restarted at once (while the dead
        # worker is still in the group), and killed again when the last day's alerts are due
        for share, after in ((0.35, 0.3), (0.8, 0.1)):
            seen = progress.wait_beyond(int(share * events_records), timeout=90, worker=worker)
            time.sleep(after)
            worker.kill()
            assert seen < events_records, "the burst was over before the kill"
            worker.start()
        dripping.join()
        reader.wait_for(lambda got: got >= expected, timeout=120, worker=worker)
        time.sleep(2)  # anything extra would show up now
        reader.wait_for(lambda got: False, timeout=1)
        log = worker.log.read_text()
        assert reader.pairs() == expected, (sorted(expected - reader.pairs()), log[-3000:])
        assert "ERROR" not in log, log[-3000:]
        assert any(a.kind.value == "sos" for a in reader.alerts)
    finally:
        progress.close()
        reader.close()
