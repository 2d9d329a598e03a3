"""Detector workers in one consumer group on Apache Kafka: partitions and household state move
between real ``anbu worker`` processes, and no alert is lost, late or repeated.

Two workers share four partitions of the events of 40 households; one is SIGKILLed while
collapses are pending for households it owns; the survivor takes its partitions over (state
from the table's changelog) and raises those alerts at the backtest's times, once; a third
worker joining later repeats nothing.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from anbu.events import AlertAction, AlertEvent, AlertKind, SosCause, SosEvent, SourceFormat
from anbu.partitioning import partition_of
from anbu.registry_records import HouseholdRecord
from config import Settings
from detectors.backtest import run_backtest
from tests.kit.detector_worker import (
    DAYS,
    START,
    AlertReader,
    Worker,
    batches,
    drip,
    flatten,
    produce,
    resident,
)

HOUSEHOLDS = 40
PARTITIONS = 4  # the topics' default; tests.kit.detector_worker.batches groups by it
LOADED = re.compile(r"partition (\d+): restored")


class GroupWorker(Worker):
    """A worker of the group with its own data directory (RocksDB) and web port."""

    def __init__(self, settings: Settings, home: Path, web_port: int) -> None:
        super().__init__(settings, home / "worker.log")
        self.home = home
        self.web_port = web_port

    def env(self) -> dict[str, str]:
        env = super().env()
        env["ANBU_STACK__DATA_DIR"] = str(self.home / "var")
        env["ANBU_DETECTORS__WEB_PORT"] = str(self.web_port)
        return env

    def loads(self) -> list[int]:
        """The partitions it restored, in order (one entry per restore)."""
        text = self.log.read_text() if self.log.exists() else ""
        return [int(m.group(1)) for m in LOADED.finditer(text)]

    def wait_loaded(self, want: set[int] | None, after: int, timeout: float) -> float:
        """Wait until it has restored every partition of ``want`` (None: any one) past its
        ``after``-th restore; return the seconds it took."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            new = set(self.loads()[after:])
            if (want <= new) if want is not None else bool(new):
                return time.monotonic() - began
            time.sleep(0.1)
        raise AssertionError(f"partitions {want} not restored: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


def stop_minute(n: int) -> int:
    """Household n stops moving at 08:00 + 15 n min of the last day."""
    return 480 + 15 * n


def households() -> list[Any]:
    """Registry, batched events (a third of the homes collapse for good, the others come back
    six hours later) and one SOS; every partition has homes of each kind."""
    stream = []
    for n in range(HOUSEHOLDS):
        back = None if n % 3 == 0 else stop_minute(n) + 360
        stream += resident(f"hh-{n}", DAYS - 1, stop_minute(n), back)
    stream.sort(key=lambda e: e.event_time)
    moment = START + timedelta(days=DAYS - 1, hours=16)
    sos = SosEvent(household_id="hh-1", device_id="btn-1", cause=SosCause.BUTTON,
                   event_time=moment, receive_time=moment, source_format=SourceFormat.ANBU,
                   idempotency_key="sos-group")
    registry = [HouseholdRecord(household_id=f"hh-{n}", care_center_id="cc-1", dong="d")
                for n in range(HOUSEHOLDS)]
    records: list[Any] = batches(stream)
    # the SOS goes in the stream where its moment falls
    at = next(i for i, r in enumerate(records) if first_time(r) >= moment)
    return [*registry, *records[:at], sos, *records[at:]]


def first_time(record: Any) -> Any:
    events = getattr(record, "events", None)
    return events[0].event_time if events else record.event_time


def exact(alerts: list[AlertEvent]) -> list[tuple[str, str, str]]:
    """What must match between runs: which alert, which action, and when (event time)."""
    return [(a.alert_id, a.action.value, a.raised_at.isoformat()) for a in alerts]


def test_workers_in_a_group_hand_over_partitions_with_state_and_no_alert_lost_or_repeated(
    det_settings: Settings, tmp_path: Path
) -> None:
    from anbu.stack.services import free_port

    assert det_settings.kafka.topics.partitions == PARTITIONS
    records = households()
    reference = run_backtest(flatten(records))
    expected = set(exact(reference))
    inactivity = {a.household_id: a for a in reference
                  if a.kind is AlertKind.INACTIVITY_ROUTINE and a.action is AlertAction.RAISE}
    assert len(inactivity) >= HOUSEHOLDS * 3 // 4, sorted(inactivity)
    assert any(a.kind is AlertKind.SOS for a in reference)

    workers = [GroupWorker(det_settings, tmp_path / name, free_port()) for name in "abc"]
    for w in workers:
        w.home.mkdir()
    a, b, c = workers
    last_day = START + timedelta(days=DAYS - 1)
    head = next(i for i, r in enumerate(records) if not isinstance(r, HouseholdRecord)
                and first_time(r) >= last_day + timedelta(hours=7))
    reader = AlertReader(det_settings)
    dripping = threading.Thread(target=drip, args=(det_settings, records[head:], 3),
                                daemon=True)
    figures: dict[str, float] = {}
    try:
        produce(det_settings, records[:head])
        a.start()
        a.wait_loaded(set(range(PARTITIONS)), 0, timeout=90)
        b.start()
        figures["second_join_s"] = b.wait_loaded(None, 0, timeout=60)
        time.sleep(3)  # the group settles: b's partitions are b's
        owned_b = set(b.loads())
        owned_a = set(range(PARTITIONS)) - owned_b
        assert owned_a and owned_b, (a.tail(), b.tail())
        dripping.start()

        # kill a when the first collapse of the last day has been raised: later ones are
        # pending, on a's partitions too
        def first_raise(got: set[tuple[str, str]]) -> bool:
            return any(x.raised_at >= last_day and x.kind is AlertKind.INACTIVITY_ROUTINE
                       for x in reader.alerts)

        reader.wait_for(first_raise, timeout=120)
        assert first_raise(set()), (a.tail(), b.tail())
        now = max(x.raised_at for x in reader.alerts)
        pending = {hh for hh, alert in inactivity.items()
                   if partition_of(hh, PARTITIONS) in owned_a
                   and last_day + timedelta(minutes=stop_minute(int(hh[3:]))) < now
                   and alert.raised_at > now + timedelta(hours=1)}
        assert pending, (now, owned_a)
        before_b = len(b.loads())
        killed = time.monotonic()
        a.kill()
        figures["handover_s"] = b.wait_loaded(owned_a, before_b, timeout=120)
        assert not {(x.household_id, x.action) for x in reader.alerts
                    if x.household_id in pending and x.kind is AlertKind.INACTIVITY_ROUTINE}
        # b replays what a processed after its last checkpoint (the same alerts again, with
        # the same ids) and goes on to raise a's pending alerts: the first of them is in
        first = min(pending, key=lambda hh: inactivity[hh].raised_at)
        reader.wait_for(lambda _: exact([inactivity[first]])[0] in exact(reader.alerts),
                        timeout=120)
        figures["kill_to_first_pending_alert_s"] = time.monotonic() - killed
        mark = len(reader.alerts)
        c.start()
        figures["third_join_s"] = c.wait_loaded(None, 0, timeout=60)
        dripping.join(timeout=300)
        reader.wait_for(lambda _: set(exact(reader.alerts)) >= expected, timeout=180)
        time.sleep(3)  # anything extra would show up now
        reader.wait_for(lambda _: False, timeout=1)
        got = exact(reader.alerts)
        missing = expected - set(got)
        assert not missing, (sorted(missing)[:10], b.tail(), c.tail())
        assert set(got) == expected, sorted(set(got) - expected)[:10]
        counts = Counter(got)
        for hh in pending:  # taken over, raised on time (event time as the backtest), once
            mine = exact([inactivity[hh]])[0]
            assert counts[mine] == 1, (hh, counts[mine])
        # the third worker's join moved partitions from b with their state: nothing repeated
        seen = set(got[:mark])
        repeated = [p for i, p in enumerate(got[mark:]) if p in seen or p in got[mark:mark + i]]
        assert not repeated, repeated[:10]
        assert c.loads(), c.tail()
        for w in (b, c):
            assert "ERROR" not in w.log.read_text(), w.tail()
        figures["kill_to_last_alert_s"] = time.monotonic() - killed
        figures["repeated_after_the_kill"] = sum(n - 1 for n in counts.values())
        print("group figures:", figures)
    finally:
        reader.close()
        for w in workers:
            w.stop()
