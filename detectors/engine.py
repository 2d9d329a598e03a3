"""The detector engine: every household's state, the registry, and the deadline queue.

Pure: the caller feeds events and the current time and gets :class:`AlertEvent` back. The
Faust worker, ``anbu backtest`` and the unit tests all drive this same class.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from anbu.events import AlertEvent, DeviceEvent, EventBatch, SosEvent
from anbu.registry_records import (
    CareCenterRecord,
    DeviceRecord,
    GatewayRecord,
    HouseholdRecord,
    RegistryRecord,
)
from detectors.deadlines import DeadlineQueue
from detectors.fastparse import FastEvent
from detectors.household import INF, Household
from detectors.params import DetectorParams, HouseholdConfig
from detectors.store import HouseholdStore

log = logging.getLogger(__name__)

_RETRY_WAKE_S = 60.0
"""A household whose wake-up failed is tried again this much later (event time)."""

_DEVICE_KIND_EVENTS = {"plug": "plug"}


class Engine:
    """Runs the detector core for many households.

    Args:
        params: thresholds (defaults: :class:`DetectorParams`).
        default_config: settings for households the registry does not describe.

    Attributes:
        now: the engine's clock (epoch seconds): the latest time passed to :meth:`advance`
            or seen on an event.
        households: state by household id (those unpacked longest ago are packed: see
            :class:`~detectors.store.HouseholdStore`).
        on_change: called with a household id whenever its state changed (the worker
            persists those).
    """

    def __init__(
        self,
        params: DetectorParams | None = None,
        default_config: HouseholdConfig | None = None,
    ) -> None:
        self.p = params or DetectorParams()
        self.default_config = default_config or HouseholdConfig(
            inactivity_s=self.p.default_inactivity_s
        )
        self.households = HouseholdStore(self.p.hot_households, self._configure)
        self.configs: dict[str, HouseholdConfig] = {}
        self.queue = DeadlineQueue()
        self.now = 0.0
        self.changed: set[str] = set()

    # -- households

    def household(self, hid: str) -> Household:
        """The state of ``hid``, created on first use."""
        h = self.households.get(hid)
        if h is None:
            h = self.households[hid] = Household(hid, self.configs.get(hid, self.default_config))
        return h

    def _configure(self, h: Household) -> None:
        h.cfg = self.configs.get(h.hid, self.default_config)

    def adopt(self, h: Household) -> None:
        """Take over a household restored from storage and schedule its next check."""
        self._configure(h)
        self.households[h.hid] = h
        h.due = INF
        self._schedule(h, self.now if self.now else h.watch_start)

    def _schedule(self, h: Household, at: float) -> None:
        if at < h.due:
            h.due = at
            self.queue.push(at, h.hid)  # the household's own id string: one per household

    # -- inputs

    def observe(
        self,
        household_id: str,
        device_id: str,
        kind: str,
        value: float,
        t: float,
        detail: str | None = None,
    ) -> list[AlertEvent] | None:
        """Take one device event (kind is an ``EventKind`` value); return alerts it caused."""
        h = self.households.get(household_id)
        if h is None:
            h = self.household(household_id)
        out, hint = h.observe(kind, value, t, device_id, detail, self.p)
        if hint < h.due:
            h.due = hint
            self.queue.push(hint, h.hid)
        if t > self.now:
            self.now = t
        self.changed.add(household_id)
        return out

    def observe_events(
        self,
        events: Iterable[FastEvent],
        health_now: float | None = None,
        skip: set[str] | None = None,
    ) -> list[AlertEvent]:
        """Take device events in order, advancing the clock to each first; return the alerts.

        What :meth:`advance` then :meth:`observe` do for each event, with the lookups done
        once per call rather than per event (the worker's path: about 1 µs an event). An
        event that fails is logged and skipped: the others' alerts are still returned.

        Args:
            events: the events, in order.
            health_now: as for :meth:`advance`.
            skip: households whose events only move the clock (their state already
                includes them: a replay after a restart).
        """
        out: list[AlertEvent] = []
        heap = self.queue.heap
        push = self.queue.push
        hot = self.households.hot
        changed = self.changed
        p = self.p
        for t, hid, device_id, kind, value, detail in events:
            try:
                # advance only when it has something to do: the clock moves, or one is due
                if t > self.now or (heap and heap[0][0] <= self.now):
                    woken = self.advance(t, health_now)
                    if woken:
                        out += woken
                    heap = self.queue.heap  # compacting replaces the list
                if skip and hid in skip:
                    continue
                h = hot.get(hid) or self.household(hid)  # never kept across lookups
                raised, hint = h.observe(kind, value, t, device_id, detail, p)
                if hint < h.due:
                    h.due = hint
                    push(hint, h.hid)
                changed.add(hid)
                if raised:
                    out += raised
            except Exception:  # a bug on one event must not drop the others' alerts
                log.exception("detector failed on a %s event of household %s", kind, hid)
        return out

    def sos(
        self,
        household_id: str,
        device_id: str,
        cause: str,
        t: float,
        detail: str | None = None,
        key: str | None = None,
    ) -> list[AlertEvent] | None:
        """Take an SOS; return the alert (at once).

        ``key`` is the SOS record's idempotency key: a second record with it (each bridge's
        SOS lane sends every press) is the same press, not another one.
        """
        h = self.household(household_id)
        out = h.sos(t, device_id, cause, detail, self.p, key)
        self.changed.add(household_id)
        return out

    def apply(self, event: DeviceEvent | SosEvent | EventBatch) -> list[AlertEvent]:
        """Take a model event (a device event, a batch of them, or an SOS)."""
        out: list[AlertEvent] = []
        if isinstance(event, EventBatch):
            for e in event.events:
                out += self.apply(e)
            return out
        t = event.event_time.timestamp()
        if isinstance(event, SosEvent):
            return self.sos(event.household_id, event.device_id, event.cause.value, t,
                            event.detail, event.idempotency_key) or []
        return self.observe(event.household_id, event.device_id, event.kind.value,
                            event.value, t, event.detail) or []

    def apply_registry(self, record: RegistryRecord) -> list[AlertEvent]:
        """Apply a registry record (household settings, a device, a gateway)."""
        if isinstance(record, HouseholdRecord):
            cfg = HouseholdConfig.from_record(record)
            self.configs[record.household_id] = cfg
            h = self.households.get(record.household_id)
            if h is not None:
                h.cfg = cfg
                self.changed.add(h.hid)
                if h.watch_start:
                    self._schedule(h, self.now)
        elif isinstance(record, DeviceRecord):
            h = self.household(record.household_id)
            retired = record.retired or record.retired_at is not None
            h.register_device(record.device_id, record.kind, float(record.reporting_interval_s),
                              retired, self.now)
            self.changed.add(h.hid)
            if h.watch_start:
                self._schedule(h, self.now)
        elif isinstance(record, GatewayRecord):
            h = self.household(record.household_id)
            if record.retired:
                h.hb_interval = 0.0
                h.hb_registered = False
            else:
                h.hb_interval = float(record.heartbeat_interval_s)
                h.hb_registered = True
            self.changed.add(h.hid)
            if h.watch_start:
                self._schedule(h, self.now)
        elif isinstance(record, CareCenterRecord):
            pass
        return []

    # -- clock

    def advance(self, now: float, health_now: float | None = None) -> list[AlertEvent]:
        """Move the clock to ``now`` and wake every household whose deadline has come.

        Args:
            now: the new time (event time; an earlier time than the clock changes nothing).
            health_now: the clock for gateway and device silence, if not ``now`` (see
                :meth:`Household.wake`).
        """
        if now > self.now:
            self.now = now
        else:
            now = self.now
        out: list[AlertEvent] = []
        queue = self.queue
        households = self.households
        changed = self.changed
        p = self.p
        while True:
            item = queue.pop_due(now)
            if item is None:
                break
            at, hid = item
            h = households.get(hid)
            if h is None or h.due != at:
                continue  # stale: the household moved its deadline
            h.due = INF
            try:
                alerts, nxt = h.wake(now, p, health_now)
            except Exception:
                # A bug in one household must neither drop the alerts already gathered for
                # others in this call nor leave this one unscheduled for ever: try again in
                # a minute.
                log.exception("detector failed waking household %s", hid)
                alerts, nxt = None, now + _RETRY_WAKE_S
            # a wake may change state without raising (a held-back deadline): save it too
            changed.add(hid)
            if alerts:
                out += alerts
            if nxt < INF:
                if nxt <= now:
                    nxt = math.nextafter(now, INF)  # never loop on one instant
                h.due = nxt
                queue.push(nxt, h.hid)
        if len(queue) > 4 * len(households) + 1024:
            queue.compact(households.dues())
        return out

    def next_deadline(self) -> float | None:
        """The earliest scheduled wake-up (possibly stale), for sleeping until then."""
        return self.queue.peek()

    def run(
        self,
        events: Iterable[DeviceEvent | SosEvent | EventBatch],
        health_now: float | None = None,
    ) -> list[AlertEvent]:
        """Feed time-ordered events, advancing the clock to each one's time first."""
        out: list[AlertEvent] = []
        for event in events:
            for e in event.events if isinstance(event, EventBatch) else (event,):
                out += self.advance(e.event_time.timestamp(), health_now)
                out += self.apply(e)
        return out
