"""The detector worker killed with SIGKILL in the middle of a burst loses no alert."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from anbu.events import DeviceEvent, SosCause, SosEvent, SourceFormat
from anbu.registry_records import HouseholdRecord
from config import Settings
from detectors.backtest import run_backtest
from tests.test_detectors_worker import (
    DAYS,
    START,
    AlertReader,
    Worker,
    batches,
    det_settings,
    flatten,
    pairs_of,
    produce,
    resident,
    worker,
)

_ = (det_settings, worker)  # fixtures shared with the worker test


def burst() -> list[Any]:
    """Households that fall silent and come back at different hours of the last day (the
    routine model knows every hour of the week by then); one stays silent; one presses SOS."""
    households: dict[str, list[DeviceEvent]] = {}
    for n in range(10):
        hh = f"hh-{n}"
        households[hh] = resident(hh, DAYS - 1, 480 + 30 * n, 840 + 30 * n)
    households["hh-silent"] = resident("hh-silent", DAYS - 1, 600, None)
    stream = sorted((e for evs in households.values() for e in evs), key=lambda e: e.event_time)
    moment = START + timedelta(days=DAYS - 1, hours=20)
    sos = SosEvent(household_id="hh-0", device_id="btn-0", cause=SosCause.BUTTON,
                   event_time=moment, receive_time=moment, source_format=SourceFormat.ANBU,
                   idempotency_key="sos-crash")
    registry = [HouseholdRecord(household_id=hh, care_center_id="cc-1", dong="d")
                for hh in households]
    return [*registry, *batches(stream), sos]


class Progress:
    """How many state writes the worker has made so far: the end offsets of its changelog."""

    def __init__(self, settings: Settings) -> None:
        topic = f"{settings.detectors.app_id}-household-state-changelog"
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                                      enable_auto_commit=False)
        self.parts = [TopicPartition(topic, p)
                      for p in range(settings.kafka.topics.partitions)]

    def writes(self) -> int:
        try:
            return sum(self.consumer.end_offsets(self.parts).values())
        except Exception:  # the worker has not declared the changelog yet
            return 0

    def wait_beyond(self, count: int, timeout: float, worker: Worker) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert worker.proc is not None and worker.proc.poll() is None, \
                worker.log.read_text()[-3000:]
            now = self.writes()
            if now >= count:
                return now
            time.sleep(0.05)
        raise AssertionError(f"the worker made fewer than {count} state writes: "
                             + worker.log.read_text()[-3000:])

    def close(self) -> None:
        self.consumer.close()


def test_a_worker_killed_mid_burst_loses_no_alert(
    det_settings: Settings, worker: Worker
) -> None:
    records = burst()
    event_records = sum(1 for r in records if not isinstance(r, HouseholdRecord))
    expected = pairs_of(run_backtest(flatten(records)))
    assert len(expected) >= 20
    # each processed record writes its household and the partition's offset
    total_writes = 2 * event_records

    reader = AlertReader(det_settings)
    progress = Progress(det_settings)
    try:
        produce(det_settings, records)
        worker.start()
        # killed once in the learning weeks, once while the last day's alerts are due;
        # restarted at once each time, while the dead worker is still in the group
        for share in (0.4, 0.95):
            seen = progress.wait_beyond(int(share * total_writes), timeout=90, worker=worker)
            worker.kill()
            assert seen < total_writes, "the burst was over before the kill"
            worker.start()
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
