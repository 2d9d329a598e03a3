"""The detector core's tunables as plain floats, and each household's settings.

The core runs millions of times a second in backtests, so it reads seconds from slotted
objects instead of pydantic models; these are built once from the settings and the registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from anbu.registry_records import HouseholdRecord
from config.sections import DetectorSettings

DEFAULT_BUDGET = 0.05
"""Ask-first alerts a day that ``not_back_factor`` is set for (5 per 100 days)."""


def not_back_scale(budget: float) -> float:
    """How much longer ``not_back`` waits at ``budget`` alerts a day than at the default.

    An outing that 9 in 10 outings are shorter than (``long_out``) is exceeded by about
    ``10 ** -(x / long_out)`` of them at ``x``: a budget ten times smaller asks for one
    ``long_out`` more. So the wait grows with ``log10(1 / budget)``, and is the setting's own
    at the default budget (a home of 1 alert per 100 days waits 1.54 times as long).
    """
    return math.log10(1.0 / budget) / math.log10(1.0 / DEFAULT_BUDGET)


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """Thresholds in seconds (see :class:`config.sections.DetectorSettings`)."""

    default_inactivity_s: float = 24 * 3600.0
    routine_target: float = math.log(1e5)  # -ln(threshold): expected events that went missing
    routine_threshold: float = 1e-5
    routine_min_silence_s: float = 2 * 3600.0
    partly_blind_factor: float = 2.0
    slot_s: float = 300.0
    routine_min_obs: int = 2
    routine_min_hours: int = 7 * 24
    routine_alpha_min: float = 1 - 0.5 ** (1 / 4.0)
    out_grace_s: float = 600.0
    not_back_floor_s: float = 3 * 3600.0
    not_back_factor: float = 2.0
    not_back_max_s: float = 24 * 3600.0
    long_outing_prior_s: float = 4 * 3600.0
    away_grace_s: float = 3600.0
    recovery_grace_s: float = 1800.0
    gateway_missed: float = 3.0
    default_heartbeat_s: float = 60.0
    device_silent_factor: float = 2.0
    battery_low: float = 15.0
    battery_ok: float = 25.0
    sos_merge_s: float = 300.0
    plug_on_w: float = 10.0
    plug_step_w: float = 40.0
    plug_step_ratio: float = 0.5
    plug_warmup_s: float = 72 * 3600.0
    routine_model: str = "silences"  # "silences" (detectors/silences.py) or "rates" (routine.py)
    alert_budget: float = DEFAULT_BUDGET  # routine alerts a day the thresholds are chosen for
    silence_min_s: float = 1800.0
    silence_min_days: float = 1.0
    silence_prior_days: float = 5.0
    silence_decay: float = 0.5 ** (1 / 56.0)  # a day's decay: 8-week half-life
    silence_floor_s: float = 3600.0
    silence_room_prior: float = 1.0  # pseudo-silences shrinking the room's ratios (0: no room)
    silence_room_floor: float = 4.0  # budget multiple a room's short spells may cost (0: none)
    routine_allowed: bool = True  # False: fixed rule only (for comparisons)
    hot_households: int = 10_000  # kept unpacked (0: all); the runtime shares it by partition
    outage_max_freeze_s: float = 900.0  # the worker's clock waits for Kafka at most this long

    def with_budget(self, per_100_days: float) -> DetectorParams:
        """The same thresholds for another alert budget (``not_back`` follows it too)."""
        budget = per_100_days / 100.0
        factor = self.not_back_factor * not_back_scale(budget) / not_back_scale(self.alert_budget)
        return replace(self, alert_budget=budget, not_back_factor=factor)

    @property
    def routine_count_cap(self) -> int:
        """Where a routine bin's observation count stops growing.

        From there on its mean is weighted by ``routine_alpha_min`` alone, so a higher count
        would change nothing (and at most 15, the counts pack two to a byte).
        """
        if self.routine_alpha_min <= 1 / 256:
            return 255  # a half-life of years: counts never stop mattering within a byte
        return min(255, max(self.routine_min_obs, math.ceil(1 / self.routine_alpha_min) - 1))

    @property
    def rate_scale(self) -> float:
        """Fixed-point scale of the routine's rates: 255 means every slot of an hour active."""
        return 255.0 * self.slot_s / 3600.0

    @classmethod
    def from_settings(cls, s: DetectorSettings) -> DetectorParams:
        """Build from the ``detectors`` settings section."""
        return cls(
            default_inactivity_s=s.default_inactivity_hours * 3600.0,
            routine_target=-math.log(s.routine_threshold),
            routine_threshold=s.routine_threshold,
            routine_min_silence_s=s.routine_min_silence.total_seconds(),
            partly_blind_factor=s.partly_blind_factor,
            slot_s=max(1.0, s.routine_slot.total_seconds()),
            routine_min_obs=s.routine_min_observations,
            routine_min_hours=int(s.routine_min_days * 24),
            routine_alpha_min=1 - 0.5 ** (1 / s.routine_half_life_weeks),
            out_grace_s=s.out_grace.total_seconds(),
            not_back_floor_s=s.not_back_floor.total_seconds(),
            not_back_factor=s.not_back_factor * not_back_scale(s.alert_budget / 100.0),
            not_back_max_s=s.not_back_max.total_seconds(),
            long_outing_prior_s=s.long_outing_prior.total_seconds(),
            away_grace_s=s.away_grace.total_seconds(),
            recovery_grace_s=s.recovery_grace.total_seconds(),
            gateway_missed=s.gateway_missed_heartbeats,
            default_heartbeat_s=s.default_heartbeat_interval.total_seconds(),
            device_silent_factor=s.device_silent_factor,
            battery_low=s.battery_low_percent,
            battery_ok=s.battery_ok_percent,
            sos_merge_s=s.sos_merge.total_seconds(),
            hot_households=s.hot_households,
            plug_on_w=s.plug_on_watts,
            plug_step_w=s.plug_step_watts,
            plug_step_ratio=s.plug_step_ratio,
            plug_warmup_s=s.plug_warmup.total_seconds(),
            routine_model=s.routine_model,
            alert_budget=s.alert_budget / 100.0,
            silence_min_s=s.silence_min.total_seconds(),
            silence_min_days=s.silence_min_days,
            silence_prior_days=s.silence_prior_days,
            silence_decay=0.5 ** (1 / (7 * s.silence_half_life_weeks)),
            silence_floor_s=s.silence_floor.total_seconds(),
            silence_room_prior=s.silence_room_prior,
            silence_room_floor=s.silence_room_floor,
            outage_max_freeze_s=s.outage_max_freeze.total_seconds(),
        )


@dataclass(frozen=True, slots=True)
class HouseholdConfig:
    """One household's settings from the registry, in the core's units.

    Attributes:
        inactivity_s: the fixed rule's N hours, in seconds.
        routine_enabled: use the routine-aware detector once it has learned enough.
        quiet: local (Asia/Seoul) minutes of day ``(start, end)`` in which silence is expected.
        away: registered absences as ``(start, end)`` epoch seconds, sorted.
        retired: the household is no longer watched.
    """

    inactivity_s: float = 24 * 3600.0
    routine_enabled: bool = True
    quiet: tuple[int, int] | None = None
    away: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    retired: bool = False

    @classmethod
    def from_record(cls, record: HouseholdRecord) -> HouseholdConfig:
        """Build from the registry's household record."""
        quiet = None
        if record.quiet_hours is not None:
            q = record.quiet_hours
            quiet = (q.start.hour * 60 + q.start.minute, q.end.hour * 60 + q.end.minute)
        away = tuple(
            sorted((p.start.timestamp(), p.end.timestamp()) for p in record.away_periods)
        )
        return cls(
            inactivity_s=record.inactivity_hours * 3600.0,
            routine_enabled=record.routine_enabled,
            quiet=quiet,
            away=away,
            retired=record.retired,
        )

    def in_quiet(self, local_minute: int) -> bool:
        """Whether a local minute of day falls in the quiet hours (which may wrap midnight)."""
        if self.quiet is None:
            return False
        start, end = self.quiet
        if start <= end:
            return start <= local_minute < end
        return local_minute >= start or local_minute < end

    def away_at(self, t: float) -> tuple[float, float] | None:
        """The away period covering ``t``, if any."""
        for start, end in self.away:
            if start <= t < end:
                return (start, end)
        return None
