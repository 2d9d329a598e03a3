"""A whole simulated population: households, their events in time order, the ground truth."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from anbu.registry_records import (
    AwayPeriod,
    CareCenterRecord,
    DeviceRecord,
    GatewayRecord,
    HouseholdRecord,
    QuietHours,
    RegistryRecord,
)
from anbu.timeutil import SEOUL, from_epoch
from simulator.devices import CARE_CENTERS, build_household
from simulator.model import Incident, IncidentKind, SimEvent, SimHousehold
from simulator.plan import DAY, HOUR, HouseholdPlan, IncidentRates, Withdrawal, make_plan
from simulator.profile import ResidentProfile, random_profile
from simulator.resident import ResidentSim, SimOptions, local_midnight

DEFAULT_START = datetime(2026, 1, 5, tzinfo=SEOUL)  # a Monday


@dataclass(slots=True)
class SimulationConfig:
    """What to simulate.

    Attributes:
        households: how many households.
        days: how many days; ``None`` runs forever (live demo).
        seed: the random seed; the same seed gives the same events.
        start: first moment simulated (aware); days start at Seoul midnight before it.
        rates: how often incidents and noise happen.
        options: how often devices report.
        first_index: index of the first household (ids ``hh-00001``...).
        withdrawal: residents who gradually withdraw over weeks, if any.
    """

    households: int
    days: int | None = 14
    seed: int = 1
    start: datetime = DEFAULT_START
    rates: IncidentRates = field(default_factory=IncidentRates)
    options: SimOptions = field(default_factory=SimOptions)
    first_index: int = 1
    withdrawal: Withdrawal | None = None


@dataclass(slots=True)
class _Member:
    household: SimHousehold
    profile: ResidentProfile
    plan: HouseholdPlan
    rng: random.Random


class Simulation:
    """Build households and plans up front; generate events lazily, merged in time order."""

    def __init__(self, config: SimulationConfig) -> None:
        if config.households < 0:
            raise ValueError("households must be >= 0")
        if config.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.config = config
        self.start_epoch = config.start.timestamp()
        self.midnight0 = local_midnight(self.start_epoch)
        # ``days`` whole days from the start (a start at midnight ends at a midnight).
        self.end_epoch = None if config.days is None else self.start_epoch + config.days * DAY
        self.members: list[_Member] = []
        for index in range(config.first_index, config.first_index + config.households):
            rng = random.Random(f"anbu-sim:{config.seed}:{index}")
            household = build_household(index, rng)
            habits = random.Random(f"anbu-sim-habits:{config.seed}:{index}")
            profile = random_profile(rng, habits)
            plan = make_plan(household, rng, config.rates, self.midnight0, config.days)
            gone = config.withdrawal
            if gone is not None and index in gone.households:
                plan.withdrawal = (gone.first_day, gone.first_day + gone.days, gone.depth)
            for leave, back, registered in plan.trips:
                if registered:
                    household.away_periods.append(
                        (
                            from_epoch(leave - rng.uniform(0, 3) * HOUR),
                            from_epoch(back + rng.uniform(0, 6) * HOUR),
                        )
                    )
            household.inactivity_hours = 24.0
            self.members.append(_Member(household, profile, plan, rng))

    @property
    def households(self) -> list[SimHousehold]:
        """The simulated households."""
        return [m.household for m in self.members]

    def profile(self, household_id: str) -> ResidentProfile:
        """The resident profile of one household."""
        for member in self.members:
            if member.household.household_id == household_id:
                return member.profile
        raise KeyError(household_id)

    def household_events(self, index: int) -> Iterator[SimEvent]:
        """One household's events in time order (``index`` into :attr:`households`)."""
        member = self.members[index]
        # A fresh random stream per run, so events() can be called more than once.
        rng = random.Random(f"anbu-sim-events:{self.config.seed}:{member.household.index}")
        sim = ResidentSim(
            member.household, member.profile, member.plan, rng, self.config.options, self.midnight0
        )
        last_day = (
            None if self.end_epoch is None else int((self.end_epoch - self.midnight0) // DAY) + 1
        )
        start, end = self.start_epoch, self.end_epoch
        for day_events in sim.days(-1, last_day):
            if not day_events:
                continue
            if day_events[0].t >= start and (end is None or day_events[-1].t < end):
                yield from day_events
                continue
            for event in day_events:
                if event.t < start:
                    continue
                if end is not None and event.t >= end:
                    return
                yield event

    def events(self) -> Iterator[SimEvent]:
        """All households' events, merged in time order."""
        streams = [self.household_events(i) for i in range(len(self.members))]
        return heapq.merge(*streams)

    def ground_truth(self) -> list[Incident]:
        """What happened: incidents and device/gateway trouble, sorted by start."""
        end = from_epoch(self.end_epoch) if self.end_epoch is not None else None
        truth: list[Incident] = []
        for member in self.members:
            hh, plan = member.household.household_id, member.plan

            def add(
                kind: IncidentKind,
                a: float,
                b: float,
                registered: bool = False,
                device: str | None = None,
                hh: str = hh,
            ) -> None:
                if self.end_epoch is not None and a >= self.end_epoch:
                    return
                stop = b if self.end_epoch is None else min(b, self.end_epoch)
                truth.append(
                    Incident(hh, kind, from_epoch(a), from_epoch(stop), registered, device)
                )

            if plan.collapse_at is not None and end is not None:
                add(IncidentKind.COLLAPSE, plan.collapse_at, end.timestamp())
            if plan.illness_days is not None:
                first, last = plan.illness_days
                add(
                    IncidentKind.ILLNESS,
                    self.midnight0 + first * DAY,
                    self.midnight0 + (last + 1) * DAY,
                )
            if plan.withdrawal is not None and self.end_epoch is not None:
                # it does not end: the resident is still withdrawn when the simulation stops
                began = self.midnight0 + plan.withdrawal[0] * DAY
                add(IncidentKind.WITHDRAWAL, began, self.end_epoch)
            for leave, back, registered in plan.trips:
                add(IncidentKind.TRIP, leave, back, registered)
            for a, b in plan.outages:
                add(IncidentKind.GATEWAY_OUTAGE, a, b, device=member.household.gateway_id)
            for device, a, b in plan.dropouts:
                add(IncidentKind.DEVICE_DROPOUT, a, b, device=device)
            for device, (level, per_day) in plan.batteries.items():
                if per_day > 0 and self.end_epoch is not None:
                    dead = self.midnight0 + level / per_day * DAY
                    if dead < self.end_epoch:
                        add(IncidentKind.BATTERY_DEAD, dead, self.end_epoch, device=device)
        truth.sort(key=lambda i: (i.start, i.household_id))
        return truth

    def registry_records(self) -> list[RegistryRecord]:
        """The registry's view: care centers, households (with away periods), gateways, devices."""
        installed = from_epoch(self.midnight0) - timedelta(days=30)
        records: list[RegistryRecord] = [
            CareCenterRecord(care_center_id=cc, dongs=dongs) for cc, dongs in CARE_CENTERS.items()
        ]
        for member in self.members:
            h = member.household
            records.append(
                HouseholdRecord(
                    household_id=h.household_id,
                    care_center_id=h.care_center_id,
                    dong=h.dong,
                    inactivity_hours=h.inactivity_hours,
                    quiet_hours=QuietHours(
                        start=_clock(member.profile.bed), end=_clock(member.profile.wake)
                    ),
                    away_periods=[
                        AwayPeriod(start=a, end=b, note="simulated trip") for a, b in h.away_periods
                    ],
                )
            )
            records.append(
                GatewayRecord(
                    gateway_id=h.gateway_id,
                    household_id=h.household_id,
                    mqtt_username=h.gateway_id,
                    heartbeat_interval_s=int(self.config.options.heartbeat_s),
                )
            )
            for d in h.devices:
                if d.kind == "gateway":
                    continue  # the GatewayRecord above: its heartbeats carry the gateway's id
                records.append(
                    DeviceRecord(
                        device_id=d.device_id,
                        household_id=h.household_id,
                        gateway_id=h.gateway_id,
                        kind=d.kind,
                        source_format=d.source_format,
                        mqtt_topic=d.mqtt_topic,
                        room=d.room,
                        reporting_interval_s=_reporting_interval(
                            d.kind, d.reporting_interval_s, self.config.options
                        ),
                        installed_at=installed,
                    )
                )
        return records


def _clock(seconds: float) -> time:
    seconds = seconds % DAY
    return time(int(seconds // HOUR), int(seconds % HOUR // 60))


def _reporting_interval(kind: str, default: int, options: SimOptions) -> int:
    if kind == "gateway":
        return int(options.heartbeat_s * 3)
    if kind == "plug":
        return int(options.plug_report_s * 3)
    if kind in ("motion", "door", "presence"):
        # Battery sensors check in at least with their daily battery report.
        return max(default, int(options.battery_report_s * 1.5))
    return default
