"""The routine model: how active one resident usually is at each hour of the week.

168 bins (weekday × hour of day, Asia/Seoul) hold the mean number of *active slots* per hour
(a slot is 5 minutes by default, so a burst of sensor messages counts once and a duplicate
event counts nothing). Each bin is a running mean for its first observations, then an
exponentially weighted mean (half-life of a few weeks), so a changed routine is learned.

The current silence is judged with a Poisson model: with expected activity ``Λ`` over the
silent span, ``P(no activity) = exp(-Λ)``. Bins observed too rarely and quiet hours give
``λ = 0``: lack of knowledge never counts as evidence of danger.

Memory: the model *is* an array of 336 bytes: 168 rates as uint8 fixed point (full scale 255
is every slot of the hour active; 1/21 slot an hour with 5-minute slots) and 168 observation
counts, with the four counters in slots of the same object: about 0.55 KB per household.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, SupportsIndex, cast

from detectors.params import DetectorParams, HouseholdConfig

BINS = 168
SEOUL_OFFSET_S = 9 * 3600  # Korea has kept UTC+9 without daylight saving since 1988
_MAX_GAP_HOURS = 24  # a longer silence is not learned: an alert, a trip, or missing data


def hour_bin(hour_index: int) -> int:
    """The bin (weekday*24 + hour, Monday 0, Seoul time) of an absolute UTC hour index."""
    local = hour_index + 9
    return ((local // 24 + 3) % 7) * 24 + local % 24  # 1970-01-01 was a Thursday


def local_minute(t: float) -> int:
    """Minute of the day in Seoul for epoch seconds ``t``."""
    return int((t + SEOUL_OFFSET_S) // 60) % 1440


_ZEROS = array("B", bytes(2 * BINS))


if TYPE_CHECKING:
    _Bytes = array[int]
else:
    _Bytes = array  # array is not subscriptable at run time before Python 3.12


class Routine(_Bytes):
    """One resident's learned activity rates by hour of the week.

    The object is the bins themselves (rates ``[0, 168)``, observation counts ``[168, 336)``):
    no separate array object and header per household.
    """

    __slots__ = ("cur_count", "cur_hour", "last_slot", "learned_hours")

    def __new__(cls) -> Routine:  # noqa: D102
        # from an array, not bytes (which would over-allocate the buffer by about 8 %) nor a
        # list (which converts 336 ints one by one: 12 µs)
        return cast(Routine, super().__new__(cls, "B", _ZEROS))

    def __init__(self) -> None:
        self.cur_hour = -1
        self.cur_count = 0
        self.last_slot = -1
        self.learned_hours = 0

    def __reduce_ex__(self, protocol: SupportsIndex, /) -> tuple[Any, ...]:
        # array's own __reduce_ex__ would drop the slots
        return restore_routine, (self.tobytes(), self.cur_hour, self.cur_count,
                                 self.last_slot, self.learned_hours)

    def learn(self, t: float, p: DetectorParams) -> None:
        """Record activity at ``t``; an event in an already counted slot changes nothing."""
        hour = int(t // 3600)
        if hour != self.cur_hour:
            if hour < self.cur_hour:
                return  # late event: its hour is already learned
            self._close(hour, p)
        slot = int(t // p.slot_s)
        if slot > self.last_slot:
            self.last_slot = slot
            self.cur_count += 1

    def _close(self, new_hour: int, p: DetectorParams) -> None:
        if self.cur_hour >= 0:
            self._update(hour_bin(self.cur_hour), self.cur_count, p)
            gap = new_hour - self.cur_hour - 1
            if gap <= _MAX_GAP_HOURS:
                for h in range(self.cur_hour + 1, new_hour):
                    self._update(hour_bin(h), 0, p)
        self.cur_hour = new_hour
        self.cur_count = 0

    def _update(self, b: int, count: int, p: DetectorParams) -> None:
        bins = self
        n = bins[BINS + b]
        alpha = max(1.0 / (n + 1), p.routine_alpha_min)
        scale = p.rate_scale
        old = bins[b] / scale
        value = old + alpha * (count - old)
        bins[b] = min(255, int(value * scale + 0.5))
        cap = p.routine_count_cap
        # also brings a count saved before the cap existed (up to 255) down to it
        bins[BINS + b] = n + 1 if n < cap else cap
        self.learned_hours += 1

    def ready(self, p: DetectorParams) -> bool:
        """Whether enough history exists to use the model (else the fixed rule applies)."""
        return self.learned_hours >= p.routine_min_hours

    def rate(self, b: int, p: DetectorParams) -> float:
        """Expected active slots per hour in bin ``b`` (0 while the bin is barely known)."""
        if self[BINS + b] < p.routine_min_obs:
            return 0.0
        return self[b] / p.rate_scale

    def expected(self, start: float, end: float, p: DetectorParams, cfg: HouseholdConfig) -> float:
        """Expected active slots in ``[start, end)``, quiet hours counting zero."""
        total = 0.0
        for t, nxt, lam in self._active_spans(start, end, p, cfg):
            total += lam * (nxt - t) / 3600.0
        return total

    def _active_spans(
        self, start: float, end: float, p: DetectorParams, cfg: HouseholdConfig
    ) -> Iterator[tuple[float, float, float]]:
        """The pieces of ``[start, end)`` that count: ``(from, to, rate)``, in order.

        One piece per clock hour; a piece is left out when its hour's rate is not known
        yet or it begins in quiet hours (both count zero).
        """
        t = start
        while t < end:
            hour = int(t // 3600)
            nxt = min(end, (hour + 1) * 3600.0)
            lam = self.rate(hour_bin(hour), p)
            if lam > 0.0 and not cfg.in_quiet(local_minute(t)):
                yield t, nxt, lam
            t = nxt

    def crossing(
        self, start: float, p: DetectorParams, cfg: HouseholdConfig, limit: float,
        target: float | None = None,
    ) -> float | None:
        """The moment expected activity since ``start`` reaches the alert target, or None.

        Args:
            start: where the counted silence begins.
            p: thresholds (``routine_target``).
            cfg: the household (quiet hours).
            limit: give up at this moment (the fixed rule takes over there).
            target: expected active slots to wait for, if not ``p.routine_target``.
        """
        need = p.routine_target if target is None else target
        for t, nxt, lam in self._active_spans(start, limit, p, cfg):
            gain = lam * (nxt - t) / 3600.0
            if gain >= need:
                return t + need / lam * 3600.0
            need -= gain
        return None

    def mean_rate(self, start: float, end: float, p: DetectorParams) -> float:
        """Mean expected slots per hour over the active hours of ``[start, end)``."""
        rates = []
        t = start
        while t < end:
            hour = int(t // 3600)
            lam = self.rate(hour_bin(hour), p)
            if lam > 0.0:
                rates.append(lam)
            t = (hour + 1) * 3600.0
        return sum(rates) / len(rates) if rates else 0.0


def restore_routine(
    bins: bytes | bytearray, cur_hour: int, cur_count: int, last_slot: int, learned_hours: int
) -> Routine:
    """Rebuild a :class:`Routine` from its 336 bins and counters (pickled or packed)."""
    r = Routine()
    memoryview(r)[:] = bins  # in place: the buffer keeps its exact size
    r.cur_hour = cur_hour
    r.cur_count = cur_count
    r.last_slot = last_slot
    r.learned_hours = learned_hours
    return r
