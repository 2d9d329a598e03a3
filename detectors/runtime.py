"""The worker's detector state without Faust: one engine per Kafka partition, and its clock.

A household lives on one partition (Kafka keys by household), so each partition gets its own
:class:`Engine` whose clock is that partition's event time. That keeps a worker that replays
a backlog (after a restart) deterministic: it raises what the backtest raises for the same
events, whatever order the partitions are consumed in. Once a partition is live (its event
time close to the wall clock) or idle, the wall clock drives it, so a home whose gateway
went quiet is noticed even when no event arrives.
"""

from __future__ import annotations

import logging
import math
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka.partitioner.default import murmur2

from anbu.events import AlertEvent, DeviceEvent, EventBatch, SosEvent
from anbu.registry_records import CareCenterRecord, RegistryRecord
from detectors.engine import Engine
from detectors.fastparse import FastEvent
from detectors.household import Household
from detectors.params import DetectorParams, HouseholdConfig

log = logging.getLogger(__name__)


def partition_of(household_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a household's key."""
    return (murmur2(household_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class PartitionState:
    """One partition's engine and what decides its clock."""

    engine: Engine
    last_record_wall: float = 0.0
    active: bool = False


@dataclass
class Runtime:
    """Engines by partition, the registry they share, and the clock policy.

    Args:
        params: detector thresholds.
        partitions: partitions of the events topic.
        live_window_s: a partition whose event time is this close to the wall clock is live.
        idle_s: a partition with no record for this long is caught up.
        wall: the wall clock (epoch seconds); a parameter so tests can drive it.
    """

    params: DetectorParams
    partitions: int
    live_window_s: float = 10.0
    idle_s: float = 5.0
    wall: Callable[[], float] = time.time
    states: dict[int, PartitionState] = field(default_factory=dict)
    configs: dict[str, HouseholdConfig] = field(default_factory=dict)
    registry: dict[str, RegistryRecord] = field(default_factory=dict)

    def state(self, partition: int) -> PartitionState:
        """The partition's state, created on first use."""
        st = self.states.get(partition)
        if st is None:
            engine = Engine(self.params)
            engine.configs = self.configs  # shared: one registry for every partition
            st = self.states[partition] = PartitionState(engine)
            for record in self.registry.values():
                hid = getattr(record, "household_id", None)
                if hid is not None and partition_of(hid, self.partitions) == partition:
                    engine.apply_registry(record)
        return st

    def apply_registry(self, key: str, record: RegistryRecord | None) -> None:
        """Apply a registry record (``None``: a tombstone) to the engine owning its household."""
        if record is None:
            self.registry.pop(key, None)
            return
        self.registry[key] = record
        if isinstance(record, CareCenterRecord):
            return
        p = partition_of(record.household_id, self.partitions)
        st = self.states.get(p)
        if st is not None:
            st.engine.apply_registry(record)
        elif record.type == "household":
            self.configs[record.household_id] = HouseholdConfig.from_record(record)

    def restore(self, items: Iterable[tuple[bytes | str, bytes]]) -> int:
        """Adopt households persisted in the state table; return how many."""
        count = 0
        for key, raw in items:
            if not raw:
                continue
            try:
                h: Household = pickle.loads(raw)
            except Exception as exc:  # e.g. state saved by an incompatible version
                log.error("household state %r unreadable, starting it afresh: %r", key, exc)
                continue
            st = self.state(partition_of(h.hid, self.partitions))
            st.engine.adopt(h)
            count += 1
        return count

    def apply(
        self, partition: int, record: EventBatch | DeviceEvent | SosEvent
    ) -> tuple[list[AlertEvent], dict[str, bytes]]:
        """Apply one Kafka record in event time.

        Returns:
            The alerts, and the persisted form of every household whose state changed.
        """
        st = self.state(partition)
        st.active = True
        st.last_record_wall = self.wall()
        if isinstance(record, SosEvent):
            # the SOS topic is read beside the events topic, not in step with it: an SOS
            # must not move the partition's clock past events not read yet
            alerts = st.engine.apply(record)
        else:
            alerts = st.engine.run([record], self.health_now(st.engine))
        return alerts, self.dirty(partition)

    def apply_events(
        self, partition: int, events: list[FastEvent]
    ) -> tuple[list[AlertEvent], dict[str, bytes]]:
        """Like :meth:`apply`, for events read by :func:`detectors.fastparse.fast_events`."""
        st = self.state(partition)
        st.active = True
        st.last_record_wall = self.wall()
        engine = st.engine
        health = self.health_now(engine)
        alerts: list[AlertEvent] = []
        for t, hid, dev, kind, value, detail in events:
            alerts += engine.advance(t, health)
            alerts += engine.observe(hid, dev, kind, value, t, detail) or ()
        return alerts, self.dirty(partition)

    def dirty(self, partition: int) -> dict[str, bytes]:
        """Pickled state of the partition's changed households (and forget they changed)."""
        engine = self.states[partition].engine
        out = {hid: pickle.dumps(engine.households[hid], protocol=pickle.HIGHEST_PROTOCOL)
               for hid in engine.changed if hid in engine.households}
        engine.changed.clear()
        return out

    def health_now(self, engine: Engine) -> float:
        """The clock for gateway and device silence.

        The wall clock once the partition is live (its event time within the live window of
        the wall clock), else none at all, so that a backlog being replayed does not look
        like every gateway going quiet.
        """
        now = self.wall()
        return now if abs(now - engine.now) <= self.live_window_s else -math.inf

    def tick(self) -> list[AlertEvent]:
        """Move live or idle partitions to the wall clock; return the alerts that fell due."""
        now = self.wall()
        out: list[AlertEvent] = []
        for st in self.states.values():
            if not st.active:
                continue
            engine = st.engine
            live = abs(now - engine.now) <= self.live_window_s
            idle = now - st.last_record_wall >= self.idle_s and now > engine.now
            if live or idle:
                out += engine.advance(now, now)
        return out

    def next_deadline(self) -> float | None:
        """The earliest scheduled wake-up of any active partition."""
        times = [t for st in self.states.values() if st.active
                 if (t := st.engine.next_deadline()) is not None]
        return min(times) if times else None
