"""The silences model: how long this resident's quiet spells last, by time of day and context.

Real people sit still for hours in rooms with few sensors, so counting active slots an hour
(the rates model, :mod:`detectors.routine`) calls many ordinary afternoons "rarer than 1 in
100,000". This model learns the silences themselves: every gap between two activities of a
resident at home that lasts at least ``silence_min`` (30 min) is one observation, filed
under its *context*: the 3-hour band of the day it began in (Asia/Seoul; weekdays pooled)
and whether a bed or couch mat was occupied (a ``presence`` 1 not yet followed by its 0: the
resident is sitting or lying there). 16 contexts, for each:

* ``n``: silences of ``silence_min`` or more (decayed count), and
* ``s``: their total excess over ``silence_min`` in hours.

The tail of silence lengths beyond ``silence_min`` is taken as exponential with mean excess
``mu = s / n``, at ``lam = n / days`` a day; a population prior (``silence_prior_days`` of
pseudo-days with generic awake, night and resting figures) is added to both, and each band
borrows half of its neighbours' observations, so a new home is judged from day 3 and a
silence at 08:55 is not a stranger to one at 09:05. The alert threshold of a silence in
context ``c`` is where its expected rate falls to the context's share of the alert budget
(``alert_budget`` per 100 days, split evenly over the 16 contexts):

    x_c = silence_min + k * mu_c * ln(lam_c / beta)

``k`` (at least 1) is the household's own check of the budget: every routine alert that
activity ended within 24 h of the silence's start is a false alarm, counted (decayed); when
the count is over the budget for the days learned, each false alarm over it widens the
thresholds by half.

**The room of the last activity** (setting ``silence_room_prior``, 1 by default; 0 leaves
it out). By day (06-21 h, off the mats) a silence is also judged by the sensor the resident was
last seen on, in one of 16 hashed slots. For each slot the model counts how many silences
began there (``n_r``), per hour the resident was last seen there while active (``e_r``: each
gap up to ``silence_min``, where a collapse at an active moment would leave them), and their
excess hours (``s_r``). Against the home's average, a slot gets

    rate ratio  = (n_r + a) / (e_r * N / E + a)
    length ratio = (s_r + a * S / N) / (n_r + a) / (S / N)

both shrunk to 1 by ``a`` pseudo-silences, which multiply the context's ``lam`` and ``mu``:
where the resident only passes (a kitchen, a bathroom) a silence is judged sooner, where they
settle (a couch, an unmarked entrance door) later. Weighted by the exposure the rate ratios
average 1, so the budget is spent on the same days as before, in other places.

**The room floor** (``silence_room_floor`` = m, 4 by default; 0: none). The last sensor is
only where a silence began: after a kitchen visit the resident may walk on to the couch
unseen, so a short room's spells are a mixture whose deep tail, where the threshold sits,
is the home's. A room whose length ratio is below 1 therefore never shortens a threshold
below where the home's own lengths, at the room's rate, would raise m times the budget:

    x_c >= silence_min + k * mu_c * ln(lam_c * rate / (m * beta))

Memory: 34 float32 (136 bytes) and two small counters, packed as such; with the room
setting, 49 float32 more (196 bytes), added on the first activity it sees.
"""

from __future__ import annotations

import math
import zlib
from array import array
from typing import TYPE_CHECKING, Any, SupportsIndex, cast

from detectors.params import DetectorParams

CONTEXTS = 16
BANDS = 8
BAND_S = 3 * 3600
SIZE = 2 * CONTEXTS + 2
_DAYS = 2 * CONTEXTS
_FA = _DAYS + 1
ROOMS = 16  # hashed slots for the sensor of the last activity
_ROOM_N = SIZE  # silences of silence_min or more that began after the slot's sensor
_ROOM_E = _ROOM_N + ROOMS  # hours the resident was last seen there while active (exposure)
_ROOM_S = _ROOM_E + ROOMS  # the silences' excess over silence_min, hours
_ROOM = _ROOM_S + ROOMS  # the slot of the last activity's sensor, plus 1 (0: none yet)
ROOM_SIZE = _ROOM + 1
"""Floats of a model that judges by room too (``SIZE`` without)."""
DAY_HOURS = (6, 21)  # local hours in which the room is a context (at night it is the bed)
SEOUL_OFFSET_S = 9 * 3600
MAX_LEARNED_S = 24 * 3600.0  # a longer silence is a trip, an alert or missing data
_ZEROS = array("f", bytes(4 * SIZE))
_ROOM_ZEROS = array("f", bytes(4 * (ROOM_SIZE - SIZE)))

# Population prior per band (00-03, 03-06, ... 21-24 local): silences of silence_min or more
# a day, and their mean excess in hours. Generic figures for a person living alone (asleep
# 23-07, a few quiet spells of under an hour or two by day), not fitted to any log; the
# resident's own silences replace them within a couple of weeks.
_PRIOR_LAM = (0.5, 0.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5)
_PRIOR_MU = (5.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.5)
_RESTING_MU = 2.0  # on a bed or couch, quiet spells are longer


def room_slot(device_id: str) -> int:
    """The hashed slot (0 to ROOMS - 1) of a sensor: the same in every process and run."""
    return zlib.crc32(device_id.encode()) % ROOMS


def by_day(t: float) -> bool:
    """Whether the local (Seoul) time ``t`` is in :data:`DAY_HOURS`."""
    return DAY_HOURS[0] * 3600 <= (t + SEOUL_OFFSET_S) % 86400 < DAY_HOURS[1] * 3600


def band_of(t: float) -> int:
    """The 3-hour band (0-7) of the local (Seoul) time ``t``."""
    return int((t + SEOUL_OFFSET_S) % 86400 // BAND_S)


if TYPE_CHECKING:
    _Floats = array[float]
else:
    _Floats = array


class Silences(_Floats):
    """One resident's silences by context (see the module docstring)."""

    __slots__ = ("day", "mats")

    def __new__(cls) -> Silences:  # noqa: D102
        return cast(Silences, super().__new__(cls, "f", _ZEROS))

    def __init__(self) -> None:
        self.day = -1  # local day of the last decay
        self.mats = 0  # bed/couch mats occupied now

    def __reduce_ex__(self, protocol: SupportsIndex, /) -> tuple[Any, ...]:
        return restore_silences, (self.tobytes(), self.day, self.mats)

    # -- learning

    def learn(self, start: float, end: float, resting: bool, at_home: bool,
              p: DetectorParams) -> None:
        """File the silence ``[start, end)`` (ended by activity at ``end``)."""
        day = int((end + SEOUL_OFFSET_S) // 86400)
        if day != self.day:
            if self.day >= 0 and day > self.day:
                f = p.silence_decay ** (day - self.day)
                for i in range(min(len(self), _ROOM)):  # not the room slot: a label
                    self[i] *= f
            self.day = day
        gap = end - start
        if start <= 0.0 or gap <= 0.0 or gap >= MAX_LEARNED_S:
            return
        self[_DAYS] += gap / 86400.0
        if at_home and gap >= p.silence_min_s:
            c = band_of(start) + (BANDS if resting else 0)
            self[c] += 1.0
            self[CONTEXTS + c] += (gap - p.silence_min_s) / 3600.0
        if len(self) > SIZE and at_home and not resting and by_day(start):
            room = int(self[_ROOM]) - 1
            if room >= 0:
                self[_ROOM_E + room] += min(gap, p.silence_min_s) / 3600.0
                if gap >= p.silence_min_s:
                    self[_ROOM_N + room] += 1.0
                    self[_ROOM_S + room] += (gap - p.silence_min_s) / 3600.0

    def seen_in(self, device_id: str) -> None:
        """The resident's latest activity was on ``device_id``: the next silence begins there.

        Noted after the silence this activity ended was learned (in the previous room).
        """
        if len(self) == SIZE:
            self.extend(_ROOM_ZEROS)
        self[_ROOM] = room_slot(device_id) + 1

    def room_factors(self, start: float, resting: bool, p: DetectorParams
                     ) -> tuple[float, float]:
        """The rate and length ratios of the last activity's room (1, 1: not judged by room).

        See the module docstring; a silence at night, on a mat, in a home without the
        setting, or after a sensor not seen yet is judged by its context alone.
        """
        a = p.silence_room_prior
        if len(self) == SIZE or a <= 0.0 or resting or not by_day(start):
            return 1.0, 1.0
        room = int(self[_ROOM]) - 1
        n_all = e_all = s_all = 0.0
        for i in range(ROOMS):
            n_all += self[_ROOM_N + i]
            e_all += self[_ROOM_E + i]
            s_all += self[_ROOM_S + i]
        if room < 0 or n_all <= 0.0 or e_all <= 0.0 or s_all <= 0.0:
            return 1.0, 1.0
        n = self[_ROOM_N + room]
        rate = (n + a) / (self[_ROOM_E + room] * n_all / e_all + a)
        mean = s_all / n_all
        length = (self[_ROOM_S + room] + a * mean) / (n + a) / mean
        return float(rate), float(length)

    def false_alarm(self) -> None:
        """A routine alert was ended by activity within 24 h: ordinary life, not a collapse."""
        self[_FA] += 1.0

    # -- judging

    def days(self) -> float:
        """Days learned (decayed)."""
        return float(self[_DAYS])

    def ready(self, p: DetectorParams) -> bool:
        """Whether enough days are learned to judge (the prior carries the rest)."""
        return self[_DAYS] >= p.silence_min_days

    def widening(self, p: DetectorParams) -> float:
        """``k``: 1, plus a half for each false alarm over the budget for the days learned."""
        over = self[_FA] - p.alert_budget * self[_DAYS]
        return 1.0 + 0.5 * over if over > 0.0 else 1.0

    def fit(self, start: float, resting: bool, p: DetectorParams) -> tuple[float, float, float]:
        """Own silences of the context (count, mean excess h) and the pooled rate a day.

        The mean excess and the rate are the room's when the setting judges by room.
        """
        own, mu, lam, _ = self._fit(start, resting, p)
        return own, mu, lam

    def _fit(self, start: float, resting: bool, p: DetectorParams
             ) -> tuple[float, float, float, float]:
        """:meth:`fit`, and the room's length ratio it applied (1: not judged by room)."""
        b = band_of(start)
        off = BANDS if resting else 0
        c = b + off
        lo = (b - 1) % BANDS + off
        hi = (b + 1) % BANDS + off
        n = self[c] + 0.5 * (self[lo] + self[hi])
        s = self[CONTEXTS + c] + 0.5 * (self[CONTEXTS + lo] + self[CONTEXTS + hi])
        prior_days = p.silence_prior_days
        lam0 = _PRIOR_LAM[b]
        mu0 = _PRIOR_MU[b] * (_RESTING_MU if resting else 1.0)
        # two bands' worth of exposure (the own band and half of each neighbour)
        exposure = 2.0 * (self[_DAYS] + prior_days)
        n_all = n + 2.0 * prior_days * lam0
        mu = (s + 2.0 * prior_days * lam0 * mu0) / n_all
        rate, length = self.room_factors(start, resting, p)
        return float(self[c]), mu * length, n_all / exposure * rate, length

    def threshold(self, start: float, resting: bool, p: DetectorParams) -> float:
        """Seconds of silence from ``start`` after which this silence is an alert."""
        _, mu, lam, length = self._fit(start, resting, p)
        beta = p.alert_budget / CONTEXTS
        spread = math.log(lam / beta) if lam > beta else 0.0
        excess = mu * spread
        m = p.silence_room_floor
        if m > 0.0 and length < 1.0:
            # the room's short spells, were they the home's after all (a mixture: the
            # resident walked on unseen), would spend at most m times the budget
            home = mu / length
            floor = home * math.log(lam / (m * beta)) if lam > m * beta else 0.0
            excess = max(excess, floor)
        return p.silence_min_s + self.widening(p) * excess * 3600.0

    def expected_days(self, start: float, resting: bool, length: float,
                      p: DetectorParams) -> float:
        """In how many days one silence of ``length`` is expected in this context.

        Where the room floor holds a threshold up, the figure is the floor's too: the home's
        own spell lengths at the room's rate, the commoner of the two readings. The alert's
        reason then never calls a silence rarer than the threshold it was raised at implies.
        """
        _, mu, lam, ratio = self._fit(start, resting, p)
        if mu <= 0.0:
            return math.inf
        excess = max(0.0, (length - p.silence_min_s) / 3600.0)
        rate = lam * math.exp(-excess / mu)
        if p.silence_room_floor > 0.0 and ratio < 1.0:
            rate = max(rate, lam * math.exp(-excess * ratio / mu))
        return 1.0 / rate if rate > 0.0 else math.inf


def restore_silences(raw: bytes | bytearray, day: int, mats: int) -> Silences:
    """Rebuild a :class:`Silences` from its floats and counters (pickled or packed)."""
    m = Silences()
    if len(raw) > 4 * SIZE:
        m.extend(_ROOM_ZEROS)  # it judges by room too
    memoryview(m).cast("B")[:] = raw
    m.day = day
    m.mats = mats
    return m
