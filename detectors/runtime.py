"""The worker's detector state without Faust: one engine per Kafka partition, and its clock.

A household lives on one partition (Kafka keys by household), so each partition gets its own
:class:`Engine` whose clock is that partition's event time. That keeps a worker that replays
a backlog (after a restart) deterministic: it raises what the backtest raises for the same
events, whatever order the partitions are consumed in. Once a partition is live (its event
time close to the wall clock) or idle, the wall clock drives it, so a home whose gateway
went quiet is noticed even when no event arrives.

Event time is bounded by the wall clock: an event more than ``max_ahead_s`` ahead of it (a
producer with a wrong clock; the bridge never writes one) is refused before it touches
anything, since it would move its partition's clock and every deadline of every household
there. :meth:`Runtime.apply_within` refuses only such events of a batch (a dead letter of
just them) and applies the rest: a batch carries up to a few hundred events of other
households. An SOS that far ahead is never refused: its time is set
to when Kafka took the record (the same on a replay), or to the wall clock. The bound and the
refused events' dead letter are in :mod:`detectors.ahead`; a household's saved form (its
packed state and the offsets it includes) in :mod:`detectors.saved_state`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from operator import itemgetter

from anbu.events import AlertEvent, DeadLetter, DeviceEvent, EventBatch, SosEvent
from anbu.partitioning import partition_of
from anbu.registry_records import CareCenterRecord, DeviceRecord, GatewayRecord, RegistryRecord
from anbu.timeutil import from_epoch
from detectors.ahead import max_ahead_s, refused_letter
from detectors.engine import Engine
from detectors.exceptions import EventTimeAheadError, PackingError
from detectors.fastparse import FastEvent
from detectors.health_pause import HealthPause
from detectors.household import Household
from detectors.params import DetectorParams, HouseholdConfig
from detectors.saved_state import NOTHING, AsOf, decode_household, encode_household

# the saved form and the event-time bound lived here; their names are still importable
__all__ = [
    "NOTHING", "AsOf", "PartitionState", "Runtime", "decode_household", "encode_household",
    "max_ahead_s",
]

log = logging.getLogger(__name__)

_event_time = itemgetter(0)

@dataclass
class PartitionState:
    """One partition's engine, what decides its clock, and what it must not apply twice.

    Attributes:
        ahead: households restored with a state that already includes records after the
            partition's saved offsets (a checkpoint interrupted between its household writes
            and its offset writes): their events in records up to their own offsets are
            skipped on replay, so nothing is applied twice.
        ahead_until: the largest offsets in ``ahead``; past them ``ahead`` is cleared.
    """

    engine: Engine
    last_record_wall: float = 0.0
    active: bool = False
    ahead: dict[str, AsOf] = field(default_factory=dict)
    ahead_until: AsOf = NOTHING


@dataclass
class Runtime:
    """Engines by partition, the registry they share, and the clock policy.

    Args:
        params: detector thresholds.
        partitions: partitions of the events topic.
        live_window_s: a partition whose event time is this close to the wall clock is live.
        idle_s: a partition with no record for this long is caught up.
        wall: the wall clock (epoch seconds); a parameter so tests can drive it.
        max_ahead_s: an event time further than this ahead of the wall clock is refused
            (see :func:`max_ahead_s`; infinite: any time is taken, as in unit tests).
    """

    params: DetectorParams
    partitions: int
    live_window_s: float = 10.0
    idle_s: float = 5.0
    wall: Callable[[], float] = time.time
    max_ahead_s: float = math.inf
    states: dict[int, PartitionState] = field(default_factory=dict)
    configs: dict[str, HouseholdConfig] = field(default_factory=dict)
    registry: dict[str, RegistryRecord] = field(default_factory=dict)
    pause: HealthPause = field(default_factory=HealthPause)
    """When gateway and device silence may be judged (not during or just after a Kafka
    outage: :mod:`detectors.health_pause`)."""

    def state(self, partition: int) -> PartitionState:
        """The partition's state, created on first use."""
        st = self.states.get(partition)
        if st is None:
            p = self.params
            if p.hot_households:
                # the setting is the worker's budget, shared by its partitions' engines
                p = replace(p, hot_households=max(1, -(-p.hot_households // self.partitions)))
            engine = Engine(p)
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

    def restore(
        self, items: Iterable[tuple[bytes | str, bytes]], saved: dict[int, AsOf] | None = None
    ) -> int:
        """Adopt households persisted in the state table; return how many.

        Args:
            items: (key, saved form) pairs.
            saved: each partition's saved offsets; a household whose own offsets are beyond
                them is "ahead" (see :class:`PartitionState`). None: nothing is ahead.
        """
        count = 0
        devices = self._registry_by_household()
        for key, raw in items:
            if not raw:
                continue
            try:
                h, as_of = decode_household(raw)
            except Exception as exc:  # e.g. state saved by an incompatible version
                log.error("household state %r unreadable, starting it afresh: %r", key, exc)
                continue
            partition = partition_of(h.hid, self.partitions)
            st = self.state(partition)
            st.engine.adopt(h)
            self._refresh_registry(st.engine, h, devices.get(h.hid, []))
            base = saved.get(partition, NOTHING) if saved is not None else as_of
            if as_of[0] > base[0] or as_of[1] > base[1]:
                st.ahead[h.hid] = as_of
                st.ahead_until = (max(st.ahead_until[0], as_of[0]),
                                  max(st.ahead_until[1], as_of[1]))
            count += 1
        return count

    def _registry_by_household(self) -> dict[str, list[DeviceRecord | GatewayRecord]]:
        out: dict[str, list[DeviceRecord | GatewayRecord]] = {}
        for record in self.registry.values():
            if isinstance(record, DeviceRecord | GatewayRecord):
                out.setdefault(record.household_id, []).append(record)
        return out

    @staticmethod
    def _refresh_registry(
        engine: Engine, h: Household, records: list[DeviceRecord | GatewayRecord]
    ) -> None:
        """Apply the registry as it is now to a household restored from older state.

        A device replaced or retired while the worker was down (or in the second before a
        crash) would otherwise stay "registered" in the saved state; once it falls silent
        the household would look blind, and blind households get no inactivity alert.
        """
        for record in records:
            engine.apply_registry(record)
        active = {r.device_id for r in records if isinstance(r, DeviceRecord)
                  and not (r.retired or r.retired_at is not None)}
        for device_id, dev in list((h.devices or {}).items()):
            if dev.interval > 0.0 and device_id not in active:
                h.register_device(device_id, dev.kind, 0.0, True, engine.now)

    def quiet_since_load(self, partition: int, grace_s: float) -> None:
        """Tick a partition restored without a record once ``grace_s`` pass with none.

        The timer advances an active partition to the wall clock after ``idle_s`` without
        records; the longer grace keeps a backlog that is about to arrive from being
        judged against the wall clock first.
        """
        st = self.state(partition)
        st.active = True
        st.last_record_wall = self.wall() + max(0.0, grace_s - self.idle_s)

    def drop(self, partition: int) -> None:
        """Forget a partition's engine (its partition went to another worker, or is reloaded)."""
        self.states.pop(partition, None)

    def apply(
        self, partition: int, record: EventBatch | DeviceEvent | SosEvent, offset: int = -1,
        taken: float | None = None,
    ) -> list[AlertEvent]:
        """Apply one Kafka record in event time; return the alerts.

        Args:
            partition: the record's partition.
            record: the record.
            offset: its offset (for the "ahead" households after a restart; -1: unknown).
            taken: the record's Kafka timestamp (epoch seconds), for an SOS whose own time
                is too far ahead.

        Raises:
            EventTimeAheadError: an event (not an SOS) is too far ahead of the wall clock;
                nothing of the record was applied (:meth:`apply_within` refuses only such
                events).
        """
        if isinstance(record, SosEvent):
            wall = self.wall()
            st = self.state(partition)
            st.active = True
            st.last_record_wall = wall
            if st.ahead and self._already_applied(st, record.household_id, 1, offset):
                return []
            limit = wall + self.max_ahead_s
            if record.event_time.timestamp() > limit:
                record = self._sos_now(record, limit, wall, taken)
            # the SOS topic is read beside the events topic, not in step with it: an SOS
            # must not move the partition's clock past events not read yet
            return st.engine.apply(record)
        events = record.events if isinstance(record, EventBatch) else [record]
        return self.apply_events(partition, [
            (e.event_time.timestamp(), e.household_id, e.device_id, e.kind.value, e.value,
             e.detail) for e in events], offset)

    @staticmethod
    def _sos_now(record: SosEvent, limit: float, wall: float, taken: float | None) -> SosEvent:
        """The SOS with its time set to when Kafka took it, or else to the wall clock.

        Never dropped: a call for help counts more than a wrong clock. Kafka's timestamp
        first, because a replay after a restart reads the same one and so raises the same
        alert (same id), or finds it already raised.
        """
        moment = taken if taken is not None and taken <= limit else wall
        log.warning("SOS of household %s on device %s has event time %s, too far ahead of "
                    "the wall clock; raised with the time %s instead", record.household_id,
                    record.device_id, record.event_time.isoformat(),
                    from_epoch(moment).isoformat())
        return record.model_copy(update={"event_time": from_epoch(moment)})

    def apply_events(
        self, partition: int, events: list[FastEvent], offset: int = -1
    ) -> list[AlertEvent]:
        """Like :meth:`apply`, for events read by :func:`detectors.fastparse.fast_events`.

        Raises:
            EventTimeAheadError: as for :meth:`apply`, before anything is applied.
        """
        wall = self.wall()
        latest = max(events, key=_event_time, default=None)
        if latest is not None:
            if latest[0] > wall + self.max_ahead_s:
                raise EventTimeAheadError(latest[0], wall + self.max_ahead_s, latest[1])
            self.pause.seen(latest[0], wall)
        st = self.state(partition)
        st.active = True
        st.last_record_wall = wall
        engine = st.engine
        health = self.health_now(engine)
        skip = None
        if st.ahead:
            skip = {hid for _, hid, *_ in events if self._already_applied(st, hid, 0, offset)}
        return engine.observe_events(events, health, skip)

    def apply_within(
        self, partition: int, events: list[FastEvent], offset: int, raw: bytes, topic: str
    ) -> tuple[list[AlertEvent], DeadLetter | None]:
        """Apply a record's events, refusing only those too far ahead of the wall clock.

        Args:
            partition: the record's partition.
            events: its events, as :func:`detectors.fastparse.fast_events` read them from
                ``raw`` (in record order).
            offset: its offset (see :meth:`apply`).
            raw: the record's value, from which the refused events' dead letter is cut.
            topic: the topic it came from.

        Returns:
            The alerts raised by the events taken, and a dead letter (reason
            ``event_time_ahead``) holding just the refused events, or None when none was.
        """
        limit = self.wall() + self.max_ahead_s
        refused = [i for i, e in enumerate(events) if e[0] > limit]
        if not refused:
            return self.apply_events(partition, events, offset), None
        taken = [e for e in events if e[0] <= limit]
        raised = self.apply_events(partition, taken, offset) if taken else []
        latest = max((events[i] for i in refused), key=_event_time)
        error = EventTimeAheadError(latest[0], limit, latest[1])
        log.warning("refused %d of the %d events of a record on %s partition %d: %s",
                    len(refused), len(events), topic, partition, error)
        return raised, refused_letter(raw, refused, len(events), error, topic)

    @staticmethod
    def _already_applied(st: PartitionState, hid: str, topic: int, offset: int) -> bool:
        """Whether a restored household's state already includes this record."""
        as_of = st.ahead.get(hid)
        return as_of is not None and offset <= as_of[topic]

    def snapshot(self, partition: int, as_of: AsOf) -> dict[str, bytes]:
        """The saved form of the partition's changed households (and forget they changed).

        Args:
            partition: the partition.
            as_of: the partition's last processed offsets, which the state includes.
        """
        st = self.states.get(partition)
        if st is None:
            return {}
        engine = st.engine
        households = engine.households
        ahead = st.ahead
        if ahead and as_of[0] >= st.ahead_until[0] and as_of[1] >= st.ahead_until[1]:
            ahead.clear()  # the partition has caught up with every restored household
        out: dict[str, bytes] = {}
        for hid in engine.changed:
            try:
                packed = households.packed(hid)  # a packed household is saved as it is
            except PackingError:
                # not saved, still watched in memory: after a crash it would start afresh
                log.exception("household %s cannot be packed; not saved", hid)
                continue
            if packed is None:
                continue
            own = ahead.get(hid) if ahead else None
            # a household still ahead keeps its own (later) offsets: its state includes them
            out[hid] = encode_household(hid, packed, as_of if own is None else (
                max(own[0], as_of[0]), max(own[1], as_of[1])))
        engine.changed.clear()
        return out

    def mark_changed(self, partition: int, households: Iterable[str]) -> None:
        """Mark households changed again (a snapshot of them was not written)."""
        st = self.states.get(partition)
        if st is not None:
            st.engine.changed.update(households)

    def health_now(self, engine: Engine) -> float:
        """The clock for gateway and device silence.

        The wall clock unless the partition replays a backlog (its event time further behind
        the wall clock than the live window), when there is none at all, so that a backlog
        being replayed does not look like every gateway going quiet. A clock ahead of the
        wall clock (by at most ``max_ahead_s``: records further ahead are refused) keeps
        health on the wall clock: a heartbeat from ahead makes nothing look silent.
        """
        now = self.wall()
        if self.pause.holds(now):
            return -math.inf
        return now if engine.now >= now - self.live_window_s else -math.inf

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
                health = -math.inf if self.pause.holds(now) else now
                try:
                    out += engine.advance(now, health)
                except Exception:  # a bug in one household must not stop the timer
                    log.exception("detector failed while advancing to the wall clock")
        return out

    def next_deadline(self) -> float | None:
        """The earliest scheduled wake-up of any active partition."""
        times = [t for st in self.states.values() if st.active
                 if (t := st.engine.next_deadline()) is not None]
        return min(times) if times else None

