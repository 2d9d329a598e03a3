"""A checkpoint cut short (households saved, offsets not) loses and invents no alert on replay.

The worker saves a checkpoint as the changed households, then the partition's offsets. A
worker killed between the two (or a changelog replay that rolls some keys back) leaves
households whose saved state already includes records after the saved offsets. Replaying
those records into them would apply old events to a newer state: an old movement would
resolve an inactivity alert raised after it. This drives the worker's runtime through the
same save and restore the worker does and compares with the backtest.
"""

from __future__ import annotations

from typing import Any

from anbu.events import AlertEvent, DeviceEvent, EventBatch
from anbu.partitioning import partition_of
from anbu.registry_records import HouseholdRecord
from detectors.backtest import run_backtest
from detectors.params import DetectorParams
from detectors.runtime import Runtime
from tests.kit.detector_rows import RATES
from tests.kit.detector_worker import flatten, scenario

PARTITIONS = 4
EVERY_S = 4 * 3600  # a checkpoint whenever a partition's event time crosses 4 hours


def _by_partition(records: list[Any]) -> dict[int, list[EventBatch | DeviceEvent]]:
    out: dict[int, list[EventBatch | DeviceEvent]] = {}
    for r in records:
        if isinstance(r, EventBatch):
            out.setdefault(partition_of(r.events[0].household_id, PARTITIONS), []).append(r)
        elif isinstance(r, DeviceEvent):
            out.setdefault(partition_of(r.household_id, PARTITIONS), []).append(r)
    return out


def _time(record: EventBatch | DeviceEvent) -> float:
    events = record.events if isinstance(record, EventBatch) else [record]
    return events[-1].event_time.timestamp()


Seen = dict[tuple[str, str], float]


def downstream(*streams: list[AlertEvent]) -> Seen:
    """What the alerts service keeps (it dedupes by alert id and action): the first of each,
    with the moment it says the alert was raised or resolved."""
    out: Seen = {}
    for stream in streams:
        for a in stream:
            out.setdefault((a.alert_id, a.action.value), a.raised_at.timestamp())
    return out


def _run(cut_at: float, skip: bool) -> tuple[Seen, int]:
    """Process every partition with checkpoints; cut hh-back's partition's first checkpoint
    after ``cut_at`` short (its households saved, its offsets not), stop there ("killed"),
    then restore and replay every partition from its saved offsets.

    Returns:
        What the alerts service keeps of the alerts sent before the cut and after the
        restart, and how many households were restored "ahead" of their partition's saved
        offsets.
    """
    part1, part2 = scenario()
    registry = [r for r in part1 if isinstance(r, HouseholdRecord)]
    streams = _by_partition(part1 + part2)
    table: dict[bytes, bytes] = {}
    saved: dict[int, tuple[int, int]] = {}
    before: list[AlertEvent] = []
    first = Runtime(RATES, PARTITIONS)
    for hh in registry:
        first.apply_registry(f"household:{hh.household_id}", hh)
    cut = False
    victim = partition_of("hh-back", PARTITIONS)
    for p, records in sorted(streams.items(), key=lambda kv: kv[0] == victim):
        mark = 0.0
        for offset, record in enumerate(records):
            # checkpoints 4 h apart, one at the cut: the one before lies before the last
            # movement of hh-back, whose alert is open at the cut
            t = _time(record) - cut_at
            if t // EVERY_S != mark // EVERY_S and offset:
                blobs = first.snapshot(p, (offset - 1, -1))
                table.update((hid.encode(), blob) for hid, blob in blobs.items())
                if p == victim and t >= 0:
                    cut = True  # killed mid-checkpoint: households written, offsets not
                    break
                saved[p] = (offset - 1, -1)
            mark = t
            before += first.apply(p, record, offset)
    assert cut, "the stream ended before the cut"
    second = Runtime(RATES, PARTITIONS)
    for hh in registry:
        second.apply_registry(f"household:{hh.household_id}", hh)
    second.restore(table.items(), saved if skip else None)
    ahead = sum(len(st.ahead) for st in second.states.values())
    after: list[AlertEvent] = []
    for p, records in streams.items():
        start = saved.get(p, (-1, -1))[0] + 1
        for offset in range(start, len(records)):
            after += second.apply(p, records[offset], offset)
    return downstream(before, after), ahead


def _expected() -> list[AlertEvent]:
    """The backtest's alerts for the device events (the SOS record is on another topic)."""
    part1, part2 = scenario()
    return run_backtest([e for e in flatten(part1 + part2) if isinstance(e, DeviceEvent)],
                        params=RATES)


def test_a_checkpoint_cut_short_loses_and_invents_no_alert() -> None:
    everything = _expected()
    raised = [a for a in everything if a.action.value == "raise" and a.household_id == "hh-back"]
    kept, ahead = _run(raised[0].raised_at.timestamp() + 1, skip=True)
    assert ahead >= 1
    assert kept == downstream(everything)


def test_the_core_alone_also_keeps_a_replay_of_older_movements_harmless() -> None:
    """Belt and braces: without the saved offsets per household, the replayed old movements
    reach the newer state, and the core itself must not let them resolve the alert raised
    after them (activity only ends a silence that began before it)."""
    everything = _expected()
    raised = [a for a in everything if a.action.value == "raise" and a.household_id == "hh-back"]
    kept, ahead = _run(raised[0].raised_at.timestamp() + 1, skip=False)
    assert ahead == 0  # nothing skipped: every old record is replayed into the newer state
    assert kept == downstream(everything)


def test_a_restored_household_takes_the_registry_as_it_is_now() -> None:
    # saved with motion-1 registered; while the worker was down the installer replaced it
    # by motion-2. A retired sensor left in the state would fall silent and make the
    # household look blind, and blind households get no inactivity alert.
    from datetime import UTC, datetime

    from anbu.events import SourceFormat
    from anbu.registry_records import DeviceRecord

    def sensor(device_id: str, retired: bool = False) -> DeviceRecord:
        return DeviceRecord(device_id=device_id, household_id="hh-1", kind="motion",
                            source_format=SourceFormat.ZIGBEE2MQTT, mqtt_topic=f"z/{device_id}",
                            reporting_interval_s=3600,
                            retired_at=datetime(2026, 3, 4, tzinfo=UTC) if retired else None)

    first = Runtime(DetectorParams(), 1, wall=lambda: 0.0)
    first.apply_registry("device:motion-1", sensor("motion-1"))
    t0 = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    first.apply_events(0, [(t0 + 600 * i, "hh-1", "motion-1", "motion", 1.0, None)
                           for i in range(10)], 9)
    saved = first.snapshot(0, (9, -1))
    second = Runtime(DetectorParams(), 1, wall=lambda: 0.0)
    second.apply_registry("device:motion-1", sensor("motion-1", retired=True))
    second.apply_registry("device:motion-2", sensor("motion-2"))
    assert second.restore(list(saved.items()), {0: (9, -1)}) == 1
    devices = second.states[0].engine.households["hh-1"].devices or {}
    assert {d: dev.interval for d, dev in devices.items()} == {"motion-2": 3600.0}
