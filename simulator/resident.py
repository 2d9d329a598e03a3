"""A resident's days, turned into the device events their home would produce.

Each simulated day runs from one wake-up to the next. The resident's day is first laid out
as blocks (where they are and what they do, :mod:`simulator.day`), then each block becomes
sensor events the way real devices report: a PIR motion sensor reports occupancy on detection
and clears it after 90 s without motion, a bed sensor reports presence, the door contact
opens and closes, smart plugs report power on change and periodically, the gateway sends
heartbeats. Noise and incidents from the :class:`~simulator.plan.HouseholdPlan` are applied last.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass

from simulator.day import STILL, Block, DayPlanner, local_midnight
from simulator.model import SimEvent, SimHousehold
from simulator.plan import DAY, HOUR, HouseholdPlan
from simulator.profile import MINUTE, ResidentProfile

__all__ = ["ResidentSim", "SimOptions", "local_midnight"]

OCCUPANCY_TIMEOUT = 90.0  # Zigbee2MQTT's default occupancy_timeout for PIR sensors

# Motion detections per minute while doing each activity. Still activities (asleep,
# sitting, watching TV, dozing in a chair) take their rate from the resident's profile:
# how often a PIR sees someone at rest depends on the home, and it decides how long the
# home looks silent while they are there.
_MOTION_RATE = {
    "rest": 0.02,
    "toilet": 2.0,
    "cook": 3.0,
    "eat": 1.0,
    "idle": 2.0,
    "tea": 2.0,
    "unseen": 0.0,
}
_IN_BED = frozenset({"sleep", "nap", "rest"})


@dataclass(slots=True)
class SimOptions:
    """How devices report (how much traffic the simulation makes).

    Attributes:
        heartbeat_s: gateway heartbeat period.
        plug_report_s: smart plugs' periodic power report (they also report on change).
        battery_report_s: how often battery devices report their level.
    """

    heartbeat_s: float = 60.0
    plug_report_s: float = 300.0
    battery_report_s: float = DAY


@dataclass(eq=False)
class ResidentSim:
    """Generates one household's events, day after day, in time order.

    Args:
        household: the household and its devices.
        profile: the resident's habits.
        plan: the household's incidents and noise.
        rng: the household's random stream.
        options: how the devices report.
        midnight0: epoch of the Seoul midnight that starts day 0.
    """

    household: SimHousehold
    profile: ResidentProfile
    plan: HouseholdPlan
    rng: random.Random
    options: SimOptions
    midnight0: float

    def __post_init__(self) -> None:
        household, rng = self.household, self.rng
        self.hh = household.household_id
        self.ids = {d.device_id.removeprefix(self.hh + "-"): d.device_id for d in household.devices}
        self.ids["gateway"] = household.gateway_id
        self.plug_level: dict[str, float] = {"tv": 0.4, "rice_cooker": 1.2, "kettle": 0.0}
        self.plug_pending: dict[str, list[tuple[float, float]]] = {a: [] for a in self.plug_level}
        self.collapsed = False
        self.planner = DayPlanner(self.hh, self.profile, self.plan, rng, self.midnight0)
        self.in_bed = True  # the first simulated day starts when the resident gets up
        self.hb_phase = rng.uniform(0, self.options.heartbeat_s)
        self.plug_phase = {a: rng.uniform(0, self.options.plug_report_s) for a in self.plug_level}
        self.battery_phase = {
            d.device_id: rng.uniform(0, self.options.battery_report_s)
            for d in household.devices
            if d.battery_powered
        }
        self.dead_at: dict[str, float] = {}
        for device_id, (level, per_day) in self.plan.batteries.items():
            if per_day > 0:
                self.dead_at[device_id] = self.midnight0 + level / per_day * DAY

    # -- blocks to events ----------------------------------------------------------------

    def _motion(
        self, out: list[SimEvent], room: str, start: float, end: float, rate: float
    ) -> None:
        rng = self.rng
        device = self.ids[f"motion-{room}"]
        t = start + rng.uniform(1, 10)
        if t >= end:
            return
        on_since = t
        last = t
        per_s = rate / 60.0
        while True:
            t = last + rng.expovariate(per_s) if per_s > 0 else end
            if t >= end:
                break
            if t - last > OCCUPANCY_TIMEOUT:
                out.append(SimEvent(on_since, self.hh, device, "motion", 1.0))
                out.append(SimEvent(last + OCCUPANCY_TIMEOUT, self.hh, device, "motion", 0.0))
                on_since = t
            last = t
        out.append(SimEvent(on_since, self.hh, device, "motion", 1.0))
        out.append(SimEvent(last + OCCUPANCY_TIMEOUT, self.hh, device, "motion", 0.0))

    def _rate(self, activity: str) -> float:
        """Motion detections per minute while doing ``activity``."""
        p = self.profile
        if activity not in STILL or activity == "unseen":
            return _MOTION_RATE[activity]
        if activity == "sleep":
            return p.sleep_motion
        if activity in ("nap", "doze"):
            return 2 * p.sleep_motion
        if activity == "tv":
            # in front of the TV they get up more often than with a book (adverts, tea)
            return 5 * p.still_motion + 0.01
        return p.still_motion

    def _plug_on(self, appliance: str, start: float, end: float, watts: float) -> None:
        pending = self.plug_pending[appliance]
        pending.append((start, watts))
        standby = {"tv": 0.4, "rice_cooker": 1.2, "kettle": 0.0}[appliance]
        if appliance == "tv":
            # Picture brightness changes the draw a little while the TV is on.
            t = start + self.rng.uniform(5, 20) * MINUTE
            while t < end:
                pending.append((t, round(watts * self.rng.uniform(0.85, 1.15), 1)))
                t += self.rng.uniform(5, 20) * MINUTE
        pending.append((end, standby))

    def _block_events(self, blocks: list[Block], out: list[SimEvent]) -> None:
        rng = self.rng
        for b in blocks:
            if b.room is None:
                door = self.ids["door-entrance"]
                if b.door_at_start:
                    self._motion(out, "entrance", b.start - rng.uniform(20, 60), b.start, 3.0)
                    out.append(SimEvent(b.start, self.hh, door, "door", 1.0))
                    out.append(SimEvent(b.start + rng.uniform(4, 15), self.hh, door, "door", 0.0))
                if b.door_at_end:
                    back = b.end
                    out.append(SimEvent(back, self.hh, door, "door", 1.0))
                    out.append(SimEvent(back + rng.uniform(4, 15), self.hh, door, "door", 0.0))
                    self._motion(out, "entrance", back + 2, back + rng.uniform(30, 90), 3.0)
                continue
            bed_now = b.activity in _IN_BED
            if bed_now != self.in_bed:
                out.append(
                    SimEvent(
                        b.start + rng.uniform(2, 20),
                        self.hh,
                        self.ids["presence-bed"],
                        "presence",
                        1.0 if bed_now else 0.0,
                    )
                )
                self.in_bed = bed_now
            self._motion(out, b.room, b.start, b.end, self._rate(b.activity))
            if b.activity == "cook":
                if rng.random() < min(1.0, self.profile.kettle_uses / 2):
                    at = b.start + rng.uniform(1, 4) * MINUTE
                    self._plug_on("kettle", at, at + rng.uniform(150, 300), rng.uniform(1750, 2150))
                if rng.random() < self.profile.cooks_rice:
                    at = b.start + rng.uniform(1, 3) * MINUTE
                    cooked = at + rng.uniform(35, 50) * MINUTE
                    self._plug_on("rice_cooker", at, cooked, rng.uniform(600, 1000))
                    self._plug_on(
                        "rice_cooker",
                        cooked,
                        cooked + rng.uniform(1, 9) * HOUR,
                        rng.uniform(40, 75),
                    )
            elif b.activity == "tea":
                at = b.start + rng.uniform(0.5, 2) * MINUTE
                self._plug_on("kettle", at, at + rng.uniform(150, 300), rng.uniform(1750, 2150))
            elif b.activity == "tv":
                self._plug_on("tv", b.start + rng.uniform(5, 60), b.end, rng.uniform(60, 150))
            if b.activity in ("eat", "tv", "idle") and b.room == "living" or b.activity == "eat":
                chance = self.profile.robot_chattiness * (b.end - b.start) / (14 * HOUR)
                if b.activity == "eat":
                    chance += 0.5
                if rng.random() < chance:
                    detail = (
                        "medication_taken"
                        if b.activity == "eat"
                        else rng.choice(["voice", "touch", "voice"])
                    )
                    at = rng.uniform(b.start, b.end)
                    out.append(SimEvent(at, self.hh, self.ids["robot"], "robot", 1.0, detail))

    def _stop_hands_at(self, moment: float) -> None:
        """Drop what only the resident's hands would have done after ``moment``.

        A TV left on stays on and a rice cooker stays on keep-warm (nobody switches them
        off); a kettle still switches itself off.
        """
        for appliance, pending in self.plug_pending.items():
            if appliance == "kettle":
                continue
            self.plug_pending[appliance] = [
                step
                for step in pending
                if step[0] <= moment or (appliance == "rice_cooker" and step[1] > 5)
            ]

    def _plug_events(self, out: list[SimEvent], start: float, end: float) -> None:
        period = self.options.plug_report_s
        for appliance, pending in self.plug_pending.items():
            device = self.ids[f"plug-{appliance}"]
            pending.sort()
            steps = [s for s in pending if s[0] < end]
            self.plug_pending[appliance] = [s for s in pending if s[0] >= end]
            level = self.plug_level[appliance]
            phase = self.plug_phase[appliance]
            tick = start + (phase - start) % period
            i = 0
            while tick < end or i < len(steps):
                if i < len(steps) and (steps[i][0] <= tick or tick >= end):
                    at, watts = steps[i]
                    i += 1
                    if abs(watts - level) >= 1.0:
                        out.append(SimEvent(max(at, start), self.hh, device, "power", watts))
                    level = watts
                else:
                    out.append(SimEvent(tick, self.hh, device, "power", level))
                    tick += period
            self.plug_level[appliance] = level

    def _background(self, out: list[SimEvent], start: float, end: float) -> None:
        period = self.options.heartbeat_s
        gateway = self.ids["gateway"]
        t = start + (self.hb_phase - start) % period
        while t < end:
            out.append(SimEvent(t, self.hh, gateway, "heartbeat", 1.0))
            t += period
        period = self.options.battery_report_s
        for device_id, phase in self.battery_phase.items():
            level0, per_day = self.plan.batteries.get(device_id, (100.0, 0.0))
            t = start + (phase - start) % period
            while t < end:
                level = level0 - per_day * (t - self.midnight0) / DAY
                out.append(SimEvent(t, self.hh, device_id, "battery", float(max(0, round(level)))))
                t += period

    def _lose(self, events: list[SimEvent]) -> list[SimEvent]:
        """Apply gateway outages, device dropouts, dead batteries and lost messages."""
        if not events:
            return events
        plan, rng = self.plan, self.rng
        first, last = events[0].t, events[-1].t
        # Only the troubles that touch this day are checked, event by event.
        outages = [(a, b) for a, b in plan.outages if a <= last and b > first]
        gone: dict[str, list[tuple[float, float]]] = {}
        for device_id, a, b in plan.dropouts:
            if a <= last and b > first:
                gone.setdefault(device_id, []).append((a, b))
        for device_id, dead in self.dead_at.items():
            if dead <= last:
                gone.setdefault(device_id, []).append((dead, float("inf")))
        miss = plan.miss_rate
        if not (outages or gone or miss):
            return events
        kept: list[SimEvent] = []
        for e in events:
            if miss and rng.random() < miss:
                continue
            if outages and any(a <= e.t < b for a, b in outages):
                continue
            spans = gone.get(e.device_id)
            if spans is not None and any(a <= e.t < b for a, b in spans):
                continue
            kept.append(e)
        return kept

    def days(self, first_day: int, last_day: int | None) -> Iterator[list[SimEvent]]:
        """Yield each simulated day's events, sorted, from ``first_day`` (forever if no end)."""
        day = first_day
        wake = self.planner.wake_time(day)
        spill: list[SimEvent] = []
        while last_day is None or day <= last_day:
            next_wake = self.planner.wake_time(day + 1)
            out: list[SimEvent] = []
            if not self.collapsed:
                blocks = self.planner.schedule(day, wake, next_wake)
                blocks = self.planner.apply_trips(blocks, wake, next_wake)
                collapse = self.plan.collapse_at
                if collapse is not None and collapse < next_wake:
                    blocks = self.planner.collapse(blocks, collapse)
                    self.collapsed = True
                self._block_events(blocks, out)
                if self.collapsed and collapse is not None:
                    # Whatever was left running keeps running; nothing new is switched on.
                    out = [e for e in out if e.t <= collapse or e.kind == "motion" and e.value == 0]
                    self._stop_hands_at(collapse)
            self._plug_events(out, wake, next_wake)
            self._background(out, wake, next_wake)
            # A sensor clearing after the day's last block belongs to the next day's output,
            # or the stream would go back in time.
            out.extend(spill)
            out.sort()
            cut = bisect.bisect_left(out, next_wake, key=lambda e: e.t)
            spill = out[cut:]
            yield self._lose(out[:cut])
            day += 1
            wake = next_wake
