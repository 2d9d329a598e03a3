"""A resident's habits: when they wake, eat, watch TV, go out, and how much that varies.

Times are seconds after local (Asia/Seoul) midnight. Each household draws its own profile,
so the routine-aware detector has real differences between residents to learn.

The ranges are fitted to real homes of people living alone (``anbu bench realism``, see
docs/simulator.md): real residents spend long stretches still where their sensors barely see
them (in a chair, in front of the TV, dozing), so a quarter of their daytime hours at home
show no activity at all; their outings are often long (a day centre, work, a visit); and how
still they are varies from day to day.
"""

from __future__ import annotations

import math
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
        outing_hours: median length of an outing.
        night_toilet: mean night-time toilet visits.
        naps: chance of an afternoon nap.
        robot_chattiness: mean spontaneous care-robot interactions per day.
        restlessness: room changes per hour while pottering about.
        sit_share: chance that a stretch between chores is spent sitting still (reading,
            the phone, dozing in a chair) rather than pottering about.
        sit_hours: median length of a still stretch (log-normal: some last hours).
        unseen: share of still stretches spent where no sensor sees them at all (a corner
            of the room, the balcony, a room without a sensor).
        still_motion: PIR detections per minute while sitting still or watching TV: how
            well this home's sensors see a resident at rest (furniture, sensor placement).
        sleep_motion: PIR detections per minute in bed at night.
        still_spread: how much the day's stillness varies from day to day (log-normal
            sigma of a factor on ``sit_share``).
        outing_spread: log-normal sigma of outing lengths (``outing_hours`` is the median).
        day_centre: chance on a weekday of a long outing (a day centre, work, a long visit);
            0 for most residents.
        day_centre_hours: how long that outing lasts.
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
    sit_share: float
    sit_hours: float
    unseen: float
    still_motion: float
    sleep_motion: float
    still_spread: float
    outing_spread: float
    day_centre: float
    day_centre_hours: float


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def random_profile(rng: random.Random, habits: random.Random | None = None) -> ResidentProfile:
    """Draw a plausible profile for an older person living alone.

    Args:
        rng: the household's random stream.
        habits: a stream of its own for the stillness and outing habits; default ``rng``.
            The simulation passes one so that adding habits leaves the incidents drawn
            after the profile (from ``rng``) as they were.
    """
    h = habits or rng
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
        outing_chance=rng.uniform(0.15, 0.8),
        weekend_outing_chance=rng.uniform(0.1, 0.9),
        outing_hours=rng.uniform(0.7, 3.0) * h.uniform(0.9, 1.5) * HOUR,
        night_toilet=rng.uniform(0.2, 2.5) * h.uniform(0.4, 0.8),
        naps=rng.uniform(0.0, 0.7),
        robot_chattiness=rng.uniform(0.5, 4.0),
        restlessness=rng.uniform(1.0, 4.0),
        sit_share=h.uniform(0.3, 0.85),
        sit_hours=h.uniform(0.6, 1.6) * HOUR,
        unseen=h.uniform(0.3, 0.9),
        still_motion=_log_uniform(h, 0.0004, 0.01),
        sleep_motion=_log_uniform(h, 0.0003, 0.015),
        still_spread=h.uniform(0.2, 0.6),
        outing_spread=h.uniform(0.5, 1.0),
        day_centre=h.uniform(0.4, 0.9) if h.random() < 0.25 else 0.0,
        day_centre_hours=h.uniform(4.0, 8.0) * HOUR,
    )
