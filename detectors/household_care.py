"""A household's care deadlines: away periods, not back from an outing, inactivity.

The routine-aware threshold first (the silences or the rates model), the fixed rule as the
backstop; an outing by the entrance door is judged by the resident's own outings instead.
A mixin of :class:`detectors.household.Household`, which holds the state (``__slots__``).
"""

from __future__ import annotations

import math

from anbu.events import AlertAction, AlertEvent, AlertKind
from anbu.timeutil import from_epoch
from detectors.household_devices import DeviceWatch
from detectors.params import DetectorParams, HouseholdConfig
from detectors.routine import Routine, local_minute
from detectors.silences import Silences
from detectors.text import (
    away_overrun_reason,
    inactivity_reason,
    not_back_reason,
    routine_reason,
    silence_reason,
    span_en,
    span_ko,
)

INF = math.inf


class CareDeadlines(DeviceWatch):
    """The care part of a household (a mixin; the state is the household's)."""

    __slots__ = ("cfg", "deferred", "last_activity", "last_door", "last_inside", "long_out",
                 "routine", "unblind_at", "watch_start")
    cfg: HouseholdConfig
    last_activity: float
    last_door: float
    last_inside: float
    long_out: float
    routine: Routine | Silences | None
    unblind_at: float
    watch_start: float
    deferred: bool

    def _care(
        self, now: float, p: DetectorParams, out: list[AlertEvent] | None, nxt: float
    ) -> tuple[list[AlertEvent] | None, float]:
        """Raise the care alerts due at ``now`` (see :meth:`Household.wake`); the next one."""
        cfg = self.cfg
        opened = self.open or {}
        silent_sensors, sensors = self._silent_sensors()
        blind = AlertKind.GATEWAY_OFFLINE.value in opened or (
            sensors > 0 and silent_sensors == sensors
        )
        base = self.last_activity or self.watch_start
        hold = self.unblind_at + p.recovery_grace_s if self.unblind_at > base else 0.0
        evidence_from = max(base, self.unblind_at)

        # away periods: muted inside, return expected by the end
        muted = False
        for start, end in cfg.away:
            if start <= now < end:
                muted = True
                nxt = min(nxt, end + p.away_grace_s)
            elif now < start:
                nxt = min(nxt, start)
            elif base < start and now >= end + p.away_grace_s:
                if AlertKind.AWAY_OVERRUN.value not in opened:
                    en, ko = away_overrun_reason(end, base)
                    out = self._raise(
                        out, AlertKind.AWAY_OVERRUN, start, end + p.away_grace_s, en, ko, "",
                        {"away_start": from_epoch(start).isoformat(),
                         "away_end": from_epoch(end).isoformat()},
                    )
                    opened = self.open or {}
            elif now < end + p.away_grace_s:
                muted = True
                nxt = min(nxt, end + p.away_grace_s)
            if end > base and end <= now:
                evidence_from = max(evidence_from, end)
                hold = max(hold, end + p.away_grace_s)
        if AlertKind.AWAY_OVERRUN.value in opened:
            muted = True
        if muted or blind:
            return out, nxt

        # home or out: the entrance door was the last thing, then silence inside
        use_routine = True
        if self.last_inside > 0.0 and self.last_door > self.last_inside:
            out_at = self.last_door + p.out_grace_s
            if now < out_at:
                nxt = min(nxt, out_at)
            else:
                usual = p.not_back_factor * (self.long_out or p.long_outing_prior_s)
                allowed = min(max(p.not_back_floor_s, usual), p.not_back_max_s)
                nb_at = max(self.last_door + allowed, hold)
                if now >= nb_at:
                    if AlertKind.NOT_BACK.value not in opened:
                        en, ko = not_back_reason(self.last_door, nb_at, self.long_out)
                        out = self._raise(
                            out, AlertKind.NOT_BACK, self.last_door, nb_at, en, ko, "",
                            {"out_s": round(nb_at - self.last_door),
                             "usual_out_s": round(self.long_out)},
                        )
                else:
                    nxt = min(nxt, nb_at)
                    return out, nxt
                # Not back: the fixed rule stays the backstop (the outing may be a guess from
                # a lost message; staff may close the not_back alert), the routine does not
                # (the outing explains the silence).
                use_routine = False

        # inactivity: routine-aware first, the fixed rule as the backstop
        fixed_at = max(base + cfg.inactivity_s, hold)
        routine_at = INF
        routine = self.routine
        # Partly blind (some sensors silent): the routine was learned with every sensor, so
        # count only part of the usual activity as expected and wait correspondingly longer.
        # A dead sensor in the room where the resident sits is otherwise a false alarm a day.
        damp = p.partly_blind_factor if silent_sensors else 1.0
        silences = routine if type(routine) is Silences else None
        if not (use_routine and cfg.routine_enabled and p.routine_allowed):
            pass
        elif silences is not None:
            if silences.ready(p) and not cfg.in_quiet(local_minute(base)):
                wait = silences.threshold(base, silences.mats > 0, p)
                at = max(base + max(wait, p.silence_floor_s) * damp, hold)
                if at < fixed_at and not cfg.in_quiet(local_minute(at)):
                    routine_at = at
        elif type(routine) is Routine and routine.ready(p):
            crossing = routine.crossing(evidence_from, p, cfg, fixed_at, p.routine_target * damp)
            if crossing is not None:
                routine_at = max(crossing, base + p.routine_min_silence_s * damp, hold)
        first = min(fixed_at, routine_at)
        if now < first:
            return out, min(nxt, first)
        if self.hb_interval > 0.0 and self.last_heard + 1.5 * self.hb_interval < first:
            # a heartbeat was already overdue at the deadline: wait until the gateway is
            # either heard (then alert) or declared offline (then hold back)
            self.deferred = True
            return out, min(nxt, self.last_heard + p.gateway_missed * self.hb_interval)
        r_open = AlertKind.INACTIVITY_ROUTINE.value in opened
        f_open = AlertKind.INACTIVITY.value in opened
        if routine_at <= now and not r_open and not f_open and silences is not None:
            resting = silences.mats > 0
            own, mu, lam = silences.fit(base, resting, p)
            rare_days = silences.expected_days(base, resting, routine_at - base, p)
            en, ko = silence_reason(routine_at - base, base, resting, silences.days(), own,
                                    p.silence_min_s + mu * 3600.0, rare_days, silent_sensors,
                                    damp)
            out = self._raise(
                out, AlertKind.INACTIVITY_ROUTINE, base, routine_at, en, ko, "",
                {"silent_s": round(routine_at - base), "model": "silences",
                 "resting": resting, "days_learned": round(silences.days(), 1),
                 "own_silences_in_context": round(own, 1),
                 "usual_length_s": round(p.silence_min_s + mu * 3600.0),
                 "silences_a_day": round(lam, 3),
                 "expected_once_in_days": round(min(rare_days, 1e9)),
                 "widening": round(silences.widening(p), 2),
                 "alert_budget_per_100_days": round(100 * p.alert_budget, 2),
                 "sensors_silent": silent_sensors,
                 "last_activity": from_epoch(base).isoformat()},
            )
            r_open = True
        elif routine_at <= now and not r_open and not f_open and type(routine) is Routine:
            expected = routine.expected(evidence_from, routine_at, p, cfg) / damp
            prob = math.exp(-expected)
            rate = routine.mean_rate(evidence_from, routine_at, p)
            en, ko = routine_reason(routine_at - base, routine_at, rate, prob, silent_sensors,
                                    damp)
            out = self._raise(
                out, AlertKind.INACTIVITY_ROUTINE, base, routine_at, en, ko, "",
                {"silent_s": round(routine_at - base), "expected_events": round(expected, 2),
                 "probability": prob, "threshold": p.routine_threshold,
                 "usual_rate_per_hour": round(rate, 2), "sensors_silent": silent_sensors,
                 "last_activity": from_epoch(base).isoformat()},
            )
            r_open = True
        if fixed_at <= now:
            if r_open:
                entry = (self.open or {})[AlertKind.INACTIVITY_ROUTINE.value]
                if not entry[2]:
                    entry[2] = 1
                    out = self._emit(
                        out, entry[0], AlertKind.INACTIVITY_ROUTINE, AlertAction.UPDATE, fixed_at,
                        f"still no activity after {span_en(fixed_at - base)} (the fixed "
                        f"{span_en(cfg.inactivity_s)} rule is now reached too)",
                        f"{span_ko(fixed_at - base)}째 활동이 없습니다 (고정 기준 "
                        f"{span_ko(cfg.inactivity_s)}에도 도달)",
                        "", {"silent_s": round(fixed_at - base), "fixed_rule_reached": True},
                    )
            elif not f_open:
                en, ko = inactivity_reason(base, fixed_at, cfg.inactivity_s)
                out = self._raise(
                    out, AlertKind.INACTIVITY, base, fixed_at, en, ko, "",
                    {"silent_s": round(fixed_at - base),
                     "rule_hours": round(cfg.inactivity_s / 3600, 2),
                     "last_activity": from_epoch(base).isoformat()},
                )
        else:
            nxt = min(nxt, fixed_at)
        return out, nxt

    def _learn_outing(self, outing: float, p: DetectorParams) -> None:
        """Fold one outing's length into the length 9 in 10 of their outings stay under.

        A quantile rather than a mean, because outings mix short errands with long visits;
        and it starts from a population prior rather than from the first outing, so one
        short errand cannot teach "this resident is never out long".
        """
        q = self.long_out or p.long_outing_prior_s
        # a multiplicative quantile tracker: up 50 % when an outing is longer, down 5 %
        # when shorter, which settles where about 1 outing in 9 is longer (ln 1.5 is about
        # 8 x -ln 0.95); never past the outing just seen, so one outing cannot overshoot
        self.long_out = min(outing, q * 1.5) if outing > q else max(outing, q * 0.95)
