"""A resident's days, turned into the device events their home would produce.

Each simulated day runs from one wake-up to the next. The resident's day is first laid out
as blocks (where they are and what they do), then each block becomes sensor events the way
real devices report: a PIR motion sensor reports occupancy on detection and clears it after
90 s without motion, a bed sensor reports presence, the door contact opens and closes, smart
plugs report power on change and periodically, the gateway sends heartbeats. Noise and
incidents from the :class:`~simulator.plan.HouseholdPlan` are applied last.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from simulator.model import SimEvent, SimHousehold
from simulator.plan import DAY, HOUR, HouseholdPlan, poisson
from simulator.profile import MINUTE, ResidentProfile

LOCAL_OFFSET = 9 * HOUR  # Asia/Seoul has no daylight saving time
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
_STILL = frozenset({"sleep", "nap", "doze", "sit", "unseen", "tv"})
_IN_BED = frozenset({"sleep", "nap", "rest"})
_ROOMS = ("living", "kitchen", "bedroom", "bathroom")
_ROOM_WEIGHTS = (0.55, 0.15, 0.2, 0.1)  # where a resident potters about between chores
_SIT_ROOMS = ("living", "bedroom", "kitchen")
_SIT_WEIGHTS = (0.65, 0.25, 0.1)  # where they sit still: an armchair, a bedroom chair, the table
_SIT_PACE = (1.0, 0.4, 2.3, 0.6)  # stillness night, morning, afternoon, evening
_LONGEST_SIT = 6 * HOUR
_SITTING = frozenset({"sit", "unseen"})
_LONGEST_OUTING = 11 * HOUR


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


@dataclass(slots=True)
class Block:
    """A stretch of the resident's day: where they are and what they do."""

    start: float
    end: float
    room: str | None  # None: out of the house
    activity: str
    door_at_start: bool = True  # out blocks: they leave through the door at the start
    door_at_end: bool = True  # and come back through it at the end


def local_midnight(epoch: float) -> float:
    """Epoch of the Seoul midnight at or before ``epoch``."""
    return math.floor((epoch + LOCAL_OFFSET) / DAY) * DAY - LOCAL_OFFSET


class ResidentSim:
    """Generates one household's events, day after day, in time order."""

    def __init__(
        self,
        household: SimHousehold,
        profile: ResidentProfile,
        plan: HouseholdPlan,
        rng: random.Random,
        options: SimOptions,
        midnight0: float,
    ) -> None:
        self.household = household
        self.profile = profile
        self.plan = plan
        self.rng = rng
        self.options = options
        self.midnight0 = midnight0
        self.hh = household.household_id
        self.ids = {d.device_id.removeprefix(self.hh + "-"): d.device_id for d in household.devices}
        self.ids["gateway"] = household.gateway_id
        self.plug_level: dict[str, float] = {"tv": 0.4, "rice_cooker": 1.2, "kettle": 0.0}
        self.plug_pending: dict[str, list[tuple[float, float]]] = {a: [] for a in self.plug_level}
        self.collapsed = False
        self.restless_nights = 0.0  # extra night-time wakings of a withdrawing resident
        self.stillness = profile.sit_share  # today's chance of sitting still between chores
        self.in_bed = True  # the first simulated day starts when the resident gets up
        self.hb_phase = rng.uniform(0, options.heartbeat_s)
        self.plug_phase = {a: rng.uniform(0, options.plug_report_s) for a in self.plug_level}
        self.battery_phase = {
            d.device_id: rng.uniform(0, options.battery_report_s)
            for d in household.devices
            if d.battery_powered
        }
        self.dead_at: dict[str, float] = {}
        for device_id, (level, per_day) in plan.batteries.items():
            if per_day > 0:
                self.dead_at[device_id] = midnight0 + level / per_day * DAY

    # -- the resident's day ---------------------------------------------------------------

    def _weekend(self, day: int) -> bool:
        return ((self.midnight0 + LOCAL_OFFSET) // DAY + day + 3) % 7 >= 5

    def wake_time(self, day: int) -> float:
        """Epoch of the resident's wake-up on ``day`` (deterministic per day)."""
        rng = random.Random(f"{self.hh}:wake:{day}")
        shift = self.profile.weekend_shift if self._weekend(day) else 0.0
        base = self.profile.wake + shift + self._illness_factor_delay(day)
        return (
            self.midnight0
            + day * DAY
            + base
            + max(-2, min(2, rng.gauss(0, 1))) * (self.profile.jitter)
        )

    def _illness_factor(self, day: int) -> float:
        if self.plan.illness_days is None:
            return 1.0
        first, last = self.plan.illness_days
        if not first <= day <= last:
            return 1.0
        return 1.0 - 0.85 * (day - first + 1) / (last - first + 1)

    def _withdrawal_factor(self, day: int) -> float:
        """1 before a withdrawal, falling linearly to ``1 - depth`` and staying there."""
        if self.plan.withdrawal is None:
            return 1.0
        first, full, depth = self.plan.withdrawal
        if day < first:
            return 1.0
        return 1.0 - depth * min(1.0, (day - first + 1) / max(1, full - first))

    def _illness_factor_delay(self, day: int) -> float:
        return (1.0 - self._illness_factor(day)) * 2 * HOUR

    def _schedule(self, day: int, wake: float, next_wake: float) -> list[Block]:
        """Lay out one day from ``wake`` to ``next_wake`` as blocks (epoch times)."""
        rng, p = self.rng, self.profile
        ill = self._illness_factor(day)
        # A withdrawing resident goes out less and moves less, as an ill one does, but keeps
        # their hours (the illness moves bed earlier); their nights are restless instead.
        withdrawal = self._withdrawal_factor(day)
        self.restless_nights = (1.0 - withdrawal) * 4.0
        f = ill * withdrawal
        midnight = self.midnight0 + day * DAY
        weekend = self._weekend(day)
        shift = p.weekend_shift if weekend else 0.0
        bed = midnight + p.bed + shift + rng.gauss(0, p.jitter) - (1 - ill) * 3 * HOUR
        bed = min(max(bed, wake + 6 * HOUR), next_wake - 5 * HOUR)
        fixed: list[Block] = []
        t = wake
        fixed.append(Block(t, t + rng.uniform(4, 12) * MINUTE, "bathroom", "toilet"))
        t = fixed[-1].end + rng.uniform(1, 10) * MINUTE
        if rng.random() < 0.1 + 0.85 * f:
            fixed.append(Block(t, t + rng.uniform(8, 25) * MINUTE, "kitchen", "cook"))
            fixed.append(
                Block(fixed[-1].end, fixed[-1].end + rng.uniform(10, 25) * MINUTE, "kitchen", "eat")
            )
        lunch = midnight + p.lunch + rng.gauss(0, 20 * MINUTE)
        if rng.random() > p.skip_lunch + (1 - f) * 0.5:
            fixed.append(Block(lunch, lunch + rng.uniform(8, 20) * MINUTE, "kitchen", "cook"))
            fixed.append(
                Block(fixed[-1].end, fixed[-1].end + rng.uniform(10, 25) * MINUTE, "kitchen", "eat")
            )
        dinner = midnight + p.dinner + rng.gauss(0, 25 * MINUTE)
        if rng.random() < 0.15 + 0.85 * f:
            fixed.append(Block(dinner, dinner + rng.uniform(15, 40) * MINUTE, "kitchen", "cook"))
            fixed.append(
                Block(fixed[-1].end, fixed[-1].end + rng.uniform(15, 30) * MINUTE, "kitchen", "eat")
            )
        for _ in range(poisson(rng, max(0.0, p.kettle_uses - 1) * f)):
            at = rng.uniform(wake + HOUR, bed - HOUR)
            fixed.append(Block(at, at + rng.uniform(4, 8) * MINUTE, "kitchen", "tea"))
        collapse_today = (
            self.plan.collapse_at is not None
            and wake - DAY < (self.plan.collapse_at) < next_wake + DAY
        )
        # Some days are quieter than others: the day's stillness varies around the habit.
        self.stillness = min(0.92, p.sit_share * rng.lognormvariate(0.0, p.still_spread))
        # withdrawing: more of the day sitting still (the chance of pottering about shrinks)
        if withdrawal < 1.0:  # (untouched otherwise: the same seed gives the same days)
            self.stillness = min(0.95, 1.0 - (1.0 - self.stillness) * withdrawal)
        chance = (p.weekend_outing_chance if weekend else p.outing_chance) * f * f
        if not collapse_today and not weekend and rng.random() < p.day_centre * f:
            at = midnight + rng.uniform(8.5, 10.5) * HOUR
            length = p.day_centre_hours * rng.uniform(0.8, 1.2)
            fixed.append(Block(at, min(at + length, bed - 2 * HOUR), None, "out"))
        elif not collapse_today and rng.random() < chance:
            length = rng.lognormvariate(math.log(p.outing_hours), p.outing_spread)
            length = min(_LONGEST_OUTING, max(0.25 * HOUR, length))
            latest = max(wake + 2 * HOUR, bed - 2 * HOUR - length)
            at = rng.uniform(wake + 1.5 * HOUR, latest)
            fixed.append(Block(at, at + length, None, "out"))
            if rng.random() < 0.2:
                at2 = rng.uniform(wake + 2 * HOUR, bed - 2 * HOUR)
                fixed.append(Block(at2, at2 + rng.uniform(0.3, 1.2) * HOUR, None, "out"))
        if rng.random() < p.naps + (1 - f) * 0.6:
            at = lunch + rng.uniform(0.7, 1.5) * HOUR
            length = rng.uniform(20, 120) * MINUTE * (2 - f)
            # Half the naps are in the armchair: no bed sensor sees them.
            if rng.random() < 0.5:
                fixed.append(Block(at, at + length, "bedroom", "nap"))
            else:
                fixed.append(Block(at, at + length, "living", "doze"))
        tv = p.tv_hours * f * rng.uniform(0.6, 1.4) * HOUR
        if tv > 10 * MINUTE:
            afternoon = tv * rng.uniform(0.2, 0.5)
            at = rng.uniform(lunch + 0.5 * HOUR, max(lunch + HOUR, dinner - afternoon - HOUR))
            fixed.append(Block(at, at + afternoon, "living", "tv"))
            evening_start = dinner + rng.uniform(45, 80) * MINUTE
            evening_end = min(bed - 20 * MINUTE, evening_start + tv - afternoon)
            fixed.append(Block(evening_start, evening_end, "living", "tv"))
        fixed.append(Block(bed - 15 * MINUTE, bed - 5 * MINUTE, "bathroom", "toilet"))
        return self._fill(fixed, wake, bed, next_wake, ill)

    def _fill(
        self, fixed: list[Block], wake: float, bed: float, next_wake: float, f: float
    ) -> list[Block]:
        """Resolve overlaps, fill the gaps with pottering about, and add the night."""
        rng, p = self.rng, self.profile
        blocks: list[Block] = []
        cursor = wake
        for block in sorted(fixed, key=lambda b: b.start):
            length = block.end - block.start
            if length <= 0:
                continue
            start = max(block.start, cursor)
            if start + length > bed:
                continue
            self._idle(blocks, cursor, start, f)
            blocks.append(Block(start, start + length, block.room, block.activity))
            cursor = start + length
        self._idle(blocks, cursor, bed - 5 * MINUTE, f)
        # The night: asleep, with toilet visits.
        visits = sorted(
            rng.uniform(bed + 45 * MINUTE, next_wake - 20 * MINUTE)
            for _ in range(poisson(rng, p.night_toilet * (2 - f) + self.restless_nights))
        )
        cursor = max(bed - 5 * MINUTE, blocks[-1].end if blocks else wake)
        for at in visits:
            if at <= cursor + 10 * MINUTE:
                continue  # two visits minutes apart are one (and bed presence stays in order)
            blocks.append(Block(cursor, at, "bedroom", "sleep"))
            length = rng.uniform(3, 8) * MINUTE
            blocks.append(Block(at, at + length, "bathroom", "toilet"))
            cursor = at + length
        blocks.append(Block(cursor, next_wake, "bedroom", "sleep"))
        return blocks

    def _idle(self, blocks: list[Block], start: float, end: float, f: float) -> None:
        """Fill a gap between chores: bursts of pottering about and long still stretches."""
        rng, p = self.rng, self.profile
        t = start
        mean = HOUR / p.restlessness / max(f, 0.2)
        while end - t > 60:
            # Mornings are busy; afternoons are for sitting (reading, dozing, television).
            pace = _SIT_PACE[int((t + LOCAL_OFFSET) % DAY // (6 * HOUR))]
            # An ill resident lies down instead (below) rather than sitting up.
            if rng.random() < self.stillness * pace * f:
                length = max(5 * MINUTE, rng.lognormvariate(math.log(p.sit_hours * pace), 0.9))
                length = min(end - t, _LONGEST_SIT, length)
                if blocks and blocks[-1].activity in _SITTING and blocks[-1].end == t:
                    blocks[-1].end += length  # still sitting: no new movement to see
                else:
                    unseen = rng.random() < p.unseen
                    room = rng.choices(_SIT_ROOMS, weights=_SIT_WEIGHTS)[0]
                    blocks.append(Block(t, t + length, room, "unseen" if unseen else "sit"))
                t += length
                continue
            length = min(end - t, max(60.0, rng.expovariate(1 / mean)))
            if rng.random() > f:
                blocks.append(Block(t, t + length, "bedroom", "rest"))
            else:
                room = rng.choices(_ROOMS, weights=_ROOM_WEIGHTS)[0]
                blocks.append(Block(t, t + length, room, "idle"))
            t += length

    # -- incidents -----------------------------------------------------------------------

    def _apply_trips(self, blocks: list[Block], start: float, end: float) -> list[Block]:
        for leave, back, _registered in self.plan.trips:
            if back <= start or leave >= end:
                continue
            kept: list[Block] = []
            for b in blocks:
                if b.end <= leave or b.start >= back:
                    kept.append(b)
                    continue
                if b.room is None:
                    continue  # no outing that day: they leave for the trip from home
                if b.start < leave:
                    kept.append(Block(b.start, leave, b.room, b.activity))
                if b.end > back:
                    kept.append(Block(back, b.end, b.room, b.activity))
            kept.append(
                Block(max(leave, start), min(back, end), None, "trip", leave >= start, back < end)
            )
            blocks = sorted(kept, key=lambda b: b.start)
        return blocks

    def _collapse(self, blocks: list[Block], collapse: float) -> list[Block]:
        """Cut the day at the collapse; in the daytime they fall while moving about.

        Falls happen on the move (getting up, on the way to the bathroom), so a daytime
        collapse at home ends a few minutes of movement, as in the datasets' protocol (cuts
        at active moments), not a still stretch that would hide it. At night they may have
        been asleep.
        """
        blocks = [b for b in blocks if b.start < collapse]
        if not blocks:
            return blocks
        last = blocks.pop()
        moving = last.room is None or last.activity not in _STILL
        if moving or not 8 <= (collapse + LOCAL_OFFSET) % DAY / HOUR < 20:
            blocks.append(Block(last.start, min(last.end, collapse), last.room, last.activity))
            return blocks
        got_up = max(last.start, collapse - self.rng.uniform(3, 10) * MINUTE)
        if got_up > last.start:
            blocks.append(Block(last.start, got_up, last.room, last.activity))
        blocks.append(Block(got_up, collapse, last.room, "idle"))
        return blocks

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
        if activity not in _STILL or activity == "unseen":
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
        wake = self.wake_time(day)
        spill: list[SimEvent] = []
        while last_day is None or day <= last_day:
            next_wake = self.wake_time(day + 1)
            out: list[SimEvent] = []
            if not self.collapsed:
                blocks = self._schedule(day, wake, next_wake)
                blocks = self._apply_trips(blocks, wake, next_wake)
                collapse = self.plan.collapse_at
                if collapse is not None and collapse < next_wake:
                    blocks = self._collapse(blocks, collapse)
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
