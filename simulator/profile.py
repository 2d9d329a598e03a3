"""A resident's habits: when they wake, eat, watch TV, go out, and how much that varies.

Times are seconds after local (Asia/Seoul) midnight. Each household draws its own profile,
so the routine-aware detector has real differences between residents to learn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

HOUR = 3600.0
MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class ResidentProfile:
    """One resident's habits.

    Attributes:
        wake: usual wake-up time on weekdays.
        bed: usual bedtime on weekdays (may pass midnight: > 24 h).
        weekend_shift: how much later they wake and go to bed at the weekend.
        jitter: standard deviation of day-to-day variation of wake and bed times.
        lunch: usual lunch time; ``skip_lunch`` the chance they skip it.
        dinner: usual dinner time.
        cooks_rice: chance per meal of using the rice cooker.
        kettle_uses: mean kettle uses per day.
        tv_hours: mean hours of TV per day.
        outing_chance: chance of going out on a weekday; ``weekend_outing_chance`` at the
            weekend (church, family visits).
        outing_hours: mean length of an outing.
        night_toilet: mean night-time toilet visits.
        naps: chance of an afternoon nap.
        robot_chattiness: mean spontaneous care-robot interactions per day.
        restlessness: room changes per hour while at home and awake.
    """

    wake: float
    bed: float
    weekend_shift: float
    jitter: float
    lunch: float
    skip_lunch: float
    dinner: float
    cooks_rice: float
    kettle_uses: float
    tv_hours: float
    outing_chance: float
    weekend_outing_chance: float
    outing_hours: float
    night_toilet: float
    naps: float
    robot_chattiness: float
    restlessness: float


def random_profile(rng: random.Random) -> ResidentProfile:
    """Draw a plausible profile for an older person living alone."""
    wake = rng.uniform(5.0, 8.5) * HOUR
    return ResidentProfile(
        wake=wake,
        bed=wake + rng.uniform(14.5, 17.0) * HOUR,
        weekend_shift=rng.choice([0.0, 0.0, 0.5, 1.0]) * HOUR,
        jitter=rng.uniform(10, 35) * MINUTE,
        lunch=rng.uniform(11.5, 13.0) * HOUR,
        skip_lunch=rng.uniform(0.0, 0.3),
        dinner=rng.uniform(17.3, 19.3) * HOUR,
        cooks_rice=rng.uniform(0.2, 0.8),
        kettle_uses=rng.uniform(0.5, 4.0),
        tv_hours=rng.uniform(1.0, 7.0),
        outing_chance=rng.uniform(0.2, 0.9),
        weekend_outing_chance=rng.uniform(0.1, 0.9),
        outing_hours=rng.uniform(0.7, 3.0),
        night_toilet=rng.uniform(0.2, 2.5),
        naps=rng.uniform(0.0, 0.7),
        robot_chattiness=rng.uniform(0.5, 4.0),
        restlessness=rng.uniform(1.0, 4.0),
    )
