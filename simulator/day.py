"""A simulated resident's day laid out as blocks: where they are and what they do.

Each simulated day runs from one wake-up to the next: fixed chores (meals, the toilet, TV,
outings, a nap) first, then the gaps filled with pottering about and quiet spells, then the
night. Where a quiet spell begins and how long it lasts depend on the room
(:mod:`simulator.rooms`, from the real logs). Trips and a collapse are applied to the blocks
last; :mod:`simulator.resident` turns the blocks into device events.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from simulator.plan import DAY, HOUR, HouseholdPlan, poisson
from simulator.profile import MINUTE, ResidentProfile
from simulator.rooms import ROOM_WEIGHTS, ROOMS, SETTLING, collapse_room, quiet_length, quiet_rate

LOCAL_OFFSET = 9 * HOUR  # Asia/Seoul has no daylight saving time
STILL = frozenset({"sleep", "nap", "doze", "sit", "unseen", "tv"})
"""Activities in which the resident hardly moves."""
_SIT_PACE = (1.0, 0.4, 2.3, 0.6)  # stillness night, morning, afternoon, evening
_LONGEST_SIT = 6 * HOUR
_SITTING = frozenset({"sit", "unseen"})
_LONGEST_OUTING = 11 * HOUR


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


@dataclass(eq=False)
class DayPlanner:
    """Lays out one household's days as blocks (deterministic for a random stream).

    Args:
        hh: the household id.
        profile: the resident's habits.
        plan: the household's incidents and noise.
        rng: the household's random stream (shared with :class:`simulator.resident.ResidentSim`).
        midnight0: epoch of the Seoul midnight that starts day 0.
    """

    hh: str
    profile: ResidentProfile
    plan: HouseholdPlan
    rng: random.Random
    midnight0: float

    def __post_init__(self) -> None:
        self.restless_nights = 0.0  # extra night-time wakings of a withdrawing resident
        self.stillness = self.profile.sit_share  # today's chance of sitting still between chores

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

    def schedule(self, day: int, wake: float, next_wake: float) -> list[Block]:
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
            # A quiet spell begins where the resident is: often after the living room,
            # seldom after the bathroom, and lasts as long as spells begun there do.
            here = _here(blocks)
            rested = bool(blocks) and blocks[-1].activity in _SITTING and blocks[-1].end == t
            # After a spell out of sight of a kitchen or a bathroom they get up and move on;
            # an ill resident lies down instead (below) rather than sitting up.
            chance = 0.0 if rested and here not in SETTLING else quiet_rate(here)
            if rng.random() < self.stillness * pace * f * chance:
                factor, spread = quiet_length(here)
                median = p.sit_hours * pace * factor
                length = max(5 * MINUTE, rng.lognormvariate(math.log(median), spread))
                length = min(end - t, _LONGEST_SIT, length)
                if rested:
                    blocks[-1].end += length  # still in the armchair: no new movement to see
                else:
                    # Where one settles they sit in the sensor's sight or out of it; after a
                    # kitchen, a bathroom or the hall they sit down where none sees them.
                    unseen = here not in SETTLING or rng.random() < p.unseen
                    blocks.append(Block(t, t + length, here, "unseen" if unseen else "sit"))
                t += length
                continue
            length = min(end - t, max(60.0, rng.expovariate(1 / mean)))
            if rng.random() > f:
                blocks.append(Block(t, t + length, "bedroom", "rest"))
            else:
                room = rng.choices(ROOMS, weights=ROOM_WEIGHTS)[0]
                blocks.append(Block(t, t + length, room, "idle"))
            t += length

    # -- incidents -----------------------------------------------------------------------

    def apply_trips(self, blocks: list[Block], start: float, end: float) -> list[Block]:
        """The day's ``blocks`` with the plan's trips between ``start`` and ``end`` cut in."""
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

    def collapse(self, blocks: list[Block], collapse: float) -> list[Block]:
        """Cut the day at the collapse; in the daytime they fall while moving about.

        Falls happen on the move (getting up, on the way to the bathroom), so a daytime
        collapse at home ends a few minutes of movement, as in the datasets' protocol (cuts
        at active moments), not a still stretch that would hide it, in the room drawn for it
        (:func:`simulator.rooms.collapse_room`: the bedroom and the bathroom most often). At
        night they may have been asleep.
        """
        blocks = [b for b in blocks if b.start < collapse]
        if not blocks:
            return blocks
        last = blocks.pop()
        if last.room is None or not 8 <= (collapse + LOCAL_OFFSET) % DAY / HOUR < 20:
            blocks.append(Block(last.start, min(last.end, collapse), last.room, last.activity))
            return blocks
        room = collapse_room(self.rng)
        got_up = max(last.start, collapse - self.rng.uniform(3, 10) * MINUTE)
        if got_up > last.start:
            blocks.append(Block(last.start, got_up, last.room, last.activity))
        blocks.append(Block(got_up, collapse, room, "idle"))
        return blocks


def _here(blocks: list[Block]) -> str:
    """The room the resident was last in (the hall when back from an outing)."""
    if not blocks:
        return "bedroom"
    return blocks[-1].room or "entrance"
