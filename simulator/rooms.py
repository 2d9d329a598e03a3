"""Where in the home a simulated resident goes quiet, for how long, and where they fall.

Real people go quiet for long after the rooms where they settle (a couch, a bed) and soon
move again after the rooms they pass through (a kitchen, a bathroom). The figures are the
real logs', measured by ``python -m bench.silence_rooms /work/shared/datasets`` (daytime
06-21 h, off the mats, silences of 30 min or more by the room of the sensor last seen;
pooled over the four logs whose sensors have known rooms, 1,161 silences):

============  ==================  =====  =================  =====
room          per hour last seen  ratio  mean excess (h)    ratio
============  ==================  =====  =================  =====
bedroom       0.62                1.05   0.76               0.95
living room   1.02                1.73   1.05               1.31
kitchen       0.40                0.68   0.32               0.40
bathroom      0.14                0.24   0.45               0.56
entrance      0.65                1.09   0.82               1.02
all           0.59                1      0.80               1
============  ==================  =====  =================  =====

HomeAssist's home makes most of the pool (about nine silences in ten), so only what the other
logs agree with is aimed at: in van Kasteren A the bedroom begins silences twice as often and
as long again as the kitchen and the bathroom (1.32 / 1.07 h against 0.72 / 0.50 h and
0.65 / 0.44 h), in Ordóñez B the living room more than the kitchen and the bathroom
(0.40 / 0.47 h, 0.17 / 0.11 h, none). The entrance is seen by only one log, so its chance
is the average's and its spells are as short as a passage's (0.6).

The factors below act on a quiet spell's chance and median length as the simulator draws
them, and are set so that the simulator's households, measured the same way
(``python -m bench.silence_rooms --simulated 100 --days 60``), keep the logs' order and
roughly their gaps: living room 0.78 / 0.71 h (13 % over 2 h), bedroom 0.40 / 0.72 h,
kitchen 0.24 / 0.39 h (4 %), bathroom 0.09 / 0.31 h. Before, the kitchen's silences were
longer than the living room's (0.74 against 0.65 h, 16 % over 2 h against 11 %). The
simulated hall's figure (0.77 / 1.44 h, few silences) is the quiet after coming home, begun
by the hall's sensor seeing the resident last.
"""

from __future__ import annotations

import random

ROOMS = ("living", "kitchen", "bedroom", "bathroom")
"""Rooms the resident potters about in between chores."""
ROOM_WEIGHTS = (0.55, 0.15, 0.2, 0.1)
SETTLING = frozenset({"living", "bedroom"})
"""Rooms where a quiet spell is spent in sight of the room's sensor (sitting, lying)."""

# A quiet spell's chance of beginning where the resident is, and its median length, against
# the average (see above). The chances are divided by their average over the rooms pottered
# about in, so the resident sits about as much as before, in other places.
_RATE = {"living": 1.7, "bedroom": 1.8, "entrance": 1.0, "kitchen": 1.4, "bathroom": 0.25}
_LENGTH = {"living": 1.6, "bedroom": 1.0, "entrance": 0.6, "kitchen": 0.3, "bathroom": 0.35}
_MEAN_RATE = sum(w * _RATE[r] for r, w in zip(ROOMS, ROOM_WEIGHTS, strict=True))


def quiet_rate(room: str) -> float:
    """How much likelier than average a quiet spell begins after being seen in ``room``."""
    return _RATE.get(room, 1.0) / _MEAN_RATE


def quiet_length(room: str) -> tuple[float, float]:
    """A quiet spell begun in ``room``: its median against the average, and its spread.

    The spread is the sigma of the log-normal length: where one settles some spells last
    hours, where one passes through few reach two (2 % in the kitchen, real logs).
    """
    return _LENGTH.get(room, 1.0), 0.9 if room in SETTLING else 0.5


# Where a daytime collapse at home happens. Surveys of older adults' falls at home name the
# bedroom, the bathroom and the stairs or hall first, then the living room and the kitchen
# (CDC / NHIS summaries); no log here shows a fall, so this is an assumption, not a fit.
COLLAPSE_ROOMS = ("bedroom", "bathroom", "living", "kitchen", "entrance")
COLLAPSE_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)


def collapse_room(rng: random.Random) -> str:
    """The room a collapse happens in, drawn from the household's own stream."""
    return rng.choices(COLLAPSE_ROOMS, weights=COLLAPSE_WEIGHTS)[0]
