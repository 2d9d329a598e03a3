"""One household's detector state: fed events and clock ticks, it returns alert events.

Pure: no I/O, no wall clock. Time is event time in epoch seconds (floats, for speed); the
caller (the engine) decides when to wake a household and passes the current time.

Every deadline is derived from the state alone (last activity, last heartbeat, the end of an
away period...), never from when the household happened to be woken, so a worker that
restarts and replays its input raises the same alerts with the same ids and times.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from anbu.events import AlertAction, AlertEvent, AlertKind, Severity, alert_id
from anbu.sos import sos_reason
from anbu.timeutil import from_epoch
from detectors.params import DetectorParams, HouseholdConfig
from detectors.routine import Routine, local_minute
from detectors.silences import Silences
from detectors.text import local_clock, routine_reason, silence_reason, span_en, span_ko

INF = math.inf
MAX_DEVICES = 256
SOS_KEYS_KEPT = 8
"""SOS idempotency keys a household remembers. Another bridge's copy of a press comes within
a second or so, with at most a press or two of the same household between; eight keys
(about 60 B each) leave a wide margin and keep the state small."""
"""Devices an unregistered id is still remembered for; registered ones always are."""
_DEFAULT_CONFIG = HouseholdConfig()
# Floats that all restored households share: these, and whole numbers below a million met
# on restore (intervals, watts), up to a bound. Timestamps are never among them.
_ZERO = 0.0
_NAN = math.nan
_COMMON_FLOATS = {v: v for v in (1.0, -1.0, INF, -INF)}
_COMMON_MAX = 4096

# Event kinds (EventKind values) as plain strings: compared millions of times a second.
_INSIDE_ALWAYS = frozenset({"motion", "robot", "checkin_answer", "button"})
_ON_CHANGE = frozenset({"contact", "presence", "door"})
_ACTIVITY_SENSORS = frozenset({"motion", "door", "contact", "presence"})
_INACTIVITY_KINDS = (
    AlertKind.INACTIVITY,
    AlertKind.INACTIVITY_ROUTINE,
    AlertKind.NOT_BACK,
    AlertKind.AWAY_OVERRUN,
)

_ORDINARY_S = 24 * 3600.0
"""A routine alert that activity ends sooner after the silence began was ordinary life."""

_SEVERITY = {
    AlertKind.SOS: Severity.CRITICAL,
    AlertKind.INACTIVITY: Severity.HIGH,
    AlertKind.INACTIVITY_ROUTINE: Severity.HIGH,
    AlertKind.NOT_BACK: Severity.HIGH,
    AlertKind.AWAY_OVERRUN: Severity.HIGH,
    AlertKind.DEVICE_SILENT: Severity.WARNING,
    AlertKind.BATTERY_LOW: Severity.INFO,
    AlertKind.GATEWAY_OFFLINE: Severity.WARNING,
}


class Device:
    """What the core remembers of one device (only devices that need remembering).

    Attributes:
        kind: the registry's device kind, or the event kind for unregistered devices.
        interval: the longest healthy silence in seconds (0: unknown, never "silent").
        last_seen: the latest event time heard from it.
        value: the last value (for on-change kinds and plugs' watts).
        first_seen: when it was first heard (a plug's warm-up).
        night_score: decayed count of nights on which it switched on by itself.
        night_day: the local day of the last such night.
    """

    __slots__ = ("first_seen", "interval", "kind", "last_seen", "night_day", "night_score", "value")

    def __init__(self, kind: str, interval: float = 0.0) -> None:
        self.kind = kind
        self.interval = interval
        self.last_seen = 0.0
        self.value = math.nan
        self.first_seen = 0.0
        self.night_score = 0.0
        self.night_day = -1

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)
        self.kind = sys.intern(self.kind)  # a handful of kinds: one string each


def share_float(value: float, shared: dict[float, float]) -> float:
    """``value``, or an equal float object already kept (24 B saved), as in a running household.

    While a household runs, one event's time is both its ``last_activity`` and
    ``last_inside``, a heartbeat's both ``last_hb`` and ``last_heard``, a device's
    ``last_seen`` often one of them; unpickling or unpacking makes separate objects of them.
    """
    if not value:  # 0.0 == -0.0 as dict keys: keep the sign
        return _ZERO if math.copysign(1.0, value) > 0.0 else value
    if value != value:
        return _NAN
    common = _COMMON_FLOATS.get(value)
    if common is not None:
        return common
    if value.is_integer() and abs(value) < 1e6 and len(_COMMON_FLOATS) < _COMMON_MAX:
        _COMMON_FLOATS[value] = value
        return value
    return shared.setdefault(value, value)


_DEVICE_FLOATS = ("interval", "last_seen", "value", "first_seen", "night_score")


class Household:
    """The detector state of one household."""

    __slots__ = (
        "cfg",
        "deferred",
        "devices",
        "due",
        "hb_interval",
        "hb_registered",
        "hid",
        "last_activity",
        "last_door",
        "last_hb",
        "last_heard",
        "last_inside",
        "last_sos",
        "long_out",
        "open",
        "routine",
        "sos_keys",
        "unblind_at",
        "watch_start",
    )

    def __init__(self, hid: str, cfg: HouseholdConfig = _DEFAULT_CONFIG) -> None:
        self.hid = hid
        self.cfg = cfg
        self.last_activity = 0.0
        self.last_inside = 0.0
        self.last_door = 0.0
        self.last_heard = 0.0
        self.last_hb = 0.0
        self.watch_start = 0.0
        self.hb_interval = 0.0
        self.hb_registered = False
        self.unblind_at = 0.0
        self.routine: Routine | Silences | None = None
        self.devices: dict[str, Device] | None = None
        # open alerts: key (kind, or kind:device) -> [alert_id, episode_start, flags]
        self.open: dict[str, list[Any]] | None = None
        self.long_out = 0.0  # 9 in 10 of this resident's outings are shorter (0: not learned)
        self.last_sos = 0.0
        # idempotency keys of the latest SOS records (None: none yet): each bridge's SOS lane
        # sends every press, and their times can differ (each stamps its own receive time)
        self.sos_keys: tuple[str, ...] | None = None
        self.deferred = False
        self.due = INF

    # -- persistence (the Faust table keeps pickled state; config comes from the registry)

    _PERSISTED = tuple(s for s in __slots__ if s not in ("cfg", "due"))

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, s) for s in self._PERSISTED)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        shared: dict[float, float] = {}
        names = self._PERSISTED
        if len(state) == len(names) - 1:  # pickled before sos_keys was kept
            names = tuple(n for n in names if n != "sos_keys")
            self.sos_keys = None
        for name, value in zip(names, state, strict=True):
            setattr(self, name, share_float(value, shared) if type(value) is float else value)
        self.cfg = _DEFAULT_CONFIG
        self.due = INF
        for dev in (self.devices or {}).values():
            for name in _DEVICE_FLOATS:
                setattr(dev, name, share_float(getattr(dev, name), shared))

    # -- inputs

    def register_device(
        self, device_id: str, kind: str, interval: float, retired: bool, now: float
    ) -> None:
        """Apply a registry device record (its kind and expected reporting interval)."""
        if self.devices is None:
            self.devices = {}
        if retired:
            self.devices.pop(device_id, None)
            if self.open is not None:
                self.open.pop(f"{AlertKind.DEVICE_SILENT.value}:{device_id}", None)
            return
        dev = self.devices.get(device_id)
        if dev is None:
            dev = self.devices[device_id] = Device(kind, interval)
            dev.last_seen = now  # silent is measured from registration until first heard
            dev.first_seen = now
            if self.watch_start == 0.0:
                self.watch_start = now
        dev.kind = kind
        dev.interval = interval

    def observe(
        self,
        kind: str,
        value: float,
        t: float,
        device_id: str,
        detail: str | None,
        p: DetectorParams,
    ) -> tuple[list[AlertEvent] | None, float]:
        """Take one device event.

        Returns:
            Alerts it caused (or None), and the earliest moment the household must be woken
            because of it (``INF`` if its scheduled wake-up still holds).
        """
        if self.cfg.retired:
            return None, INF
        out: list[AlertEvent] | None = None
        hint = INF
        if self.watch_start == 0.0:
            self.watch_start = t
            hint = t
            for known in (self.devices or {}).values():
                if known.last_seen == 0.0:
                    known.last_seen = t  # registered before the first event: silent from now
        if t > self.last_heard:
            if self.last_heard == 0.0:
                hint = t  # first heard: the gateway's offline deadline starts now
            self.last_heard = t
        if self.open is not None and AlertKind.GATEWAY_OFFLINE.value in self.open:
            out = self._resolve(out, AlertKind.GATEWAY_OFFLINE, t, "heard again", "다시 연결됨", "")
            self.unblind_at = t
            hint = t
        if self.deferred:
            self.deferred = False
            hint = t
        if kind == "heartbeat":
            if not self.hb_registered and self.last_hb > 0.0 and t > self.last_hb:
                # unregistered gateway: learn its pace from the gaps (an outage's long gap
                # is clipped so it cannot teach a slow pace), never below the default
                gap = t - self.last_hb
                if self.hb_interval == 0.0:
                    self.hb_interval = max(p.default_heartbeat_s, gap)
                    hint = min(hint, t)
                else:
                    gap = min(gap, 2 * self.hb_interval)
                    self.hb_interval = max(
                        p.default_heartbeat_s, 0.9 * self.hb_interval + 0.1 * gap
                    )
            if t > self.last_hb:
                self.last_hb = t
            return out, hint

        dev: Device | None = None
        if self.devices is not None:
            dev = self.devices.get(device_id)
        if dev is not None:
            if t > dev.last_seen:
                dev.last_seen = t
            # a device saying "I am offline" is not it reporting again (Zigbee2MQTT repeats
            # its retained availability on every reconnect)
            offline = kind == "availability" and value < 0.5
            if dev.interval > 0.0 and self.open is not None and not offline:
                key = f"{AlertKind.DEVICE_SILENT.value}:{device_id}"
                if key in self.open:
                    blind_before = self._sensors_blind()
                    out = self._resolve(
                        out, AlertKind.DEVICE_SILENT, t, "reporting again", "다시 보고함",
                        device_id,
                    )
                    if blind_before:
                        self.unblind_at = t
                    hint = min(hint, t)

        if kind == "checkin_answer" and value < 0.5:
            # "No, I am not all right" is a call for help, not a false alarm: the open
            # inactivity alert must stay open and an SOS goes out at once.
            raised = self.sos(t, device_id, "checkin_not_ok", None, p)
            if raised:
                out = (out or []) + raised
            return out, hint

        active = False
        mats = 0  # a bed/couch mat becoming occupied (1) or free (-1)
        # where the activity places the resident: 1 inside, 0 at the entrance door, -1 it
        # does not tell (an appliance may switch on by a timer while nobody is home)
        where = 1
        if kind in _INSIDE_ALWAYS:
            active = value >= 0.5 or kind != "motion"
        elif kind in _ON_CHANGE:
            if dev is None:
                dev = self._device(device_id, kind, t)
            if value != dev.value:
                active = not math.isnan(dev.value) or kind != "presence"
                if kind == "presence":
                    mats = 1 if value >= 0.5 else (-1 if dev.value >= 0.5 else 0)
                dev.value = value
            if kind == "door":
                where = 0
        elif kind == "power":
            if dev is None:
                dev = self._device(device_id, "plug", t)
            active = self._plug_activity(dev, value, t, p)
            where = -1
        elif kind == "battery":
            out = self._battery(out, device_id, value, t, p)
            return out, hint
        elif kind == "availability":
            out = self._availability(out, device_id, value, t)
            return out, min(hint, t)
        else:
            return out, hint

        if not active:
            if mats and type(self.routine) is Silences:
                self.routine.mats = max(0, self.routine.mats + mats)
            return out, hint
        before = self.last_activity
        was_out = self.last_door > self.last_inside
        if t > self.last_activity:
            self.last_activity = t
        if where >= 0 and self.last_door > self.last_inside and t - self.last_door >= p.out_grace_s:
            # back from an outing: the entrance door again (or, if that message was lost,
            # movement inside) after the door and a silence inside
            self._learn_outing(t - self.last_door, p)
            if where == 0:
                # Home from now on, even if nothing inside moves (a fall just inside the
                # door): the door messages of this homecoming (it closes seconds later) are
                # not a new departure, so "inside" is held until the grace has passed.
                self.last_inside = t + p.out_grace_s
        if where == 1:
            if t > self.last_inside:
                self.last_inside = t
        elif where == 0 and t > self.last_door:
            self.last_door = t
            hint = min(hint, t + p.out_grace_s)
        if self.cfg.routine_enabled and p.routine_allowed:
            routine = self.routine
            if p.routine_model == "silences":
                if type(routine) is not Silences:
                    routine = self.routine = Silences()
                if t > before:
                    routine.learn(before, t, routine.mats > 0, not was_out, p)
                if mats:
                    routine.mats = max(0, routine.mats + mats)
            else:
                if type(routine) is not Routine:
                    routine = self.routine = Routine()
                routine.learn(t, p)
        if self.open is not None:
            by = "checkin_answer" if kind == "checkin_answer" else "activity"
            for ak in _INACTIVITY_KINDS:
                entry = self.open.get(ak.value) if self.open is not None else None
                # only activity after the silence began ends it: a late or replayed older
                # event says nothing about the silence the alert is about; and a plug (an
                # appliance on a timer) does not say the resident is back
                if entry is not None and t > entry[1] and (
                    where >= 0 or ak is not AlertKind.NOT_BACK
                ):
                    if (ak is AlertKind.INACTIVITY_ROUTINE and type(self.routine) is Silences
                            and t - entry[1] < _ORDINARY_S):
                        self.routine.false_alarm()  # the budget's check on this household
                    out = self._resolve_activity(out, ak, t, kind, by, detail)
                    hint = min(hint, t)
        if self.due == INF:
            hint = min(hint, t)
        return out, hint

    def sos(
        self, t: float, device_id: str, cause: str, detail: str | None, p: DetectorParams,
        key: str | None = None,
    ) -> list[AlertEvent] | None:
        """Take an SOS: raise at once; presses close together are one episode.

        Args:
            t: the press's event time.
            device_id: the device that called.
            cause: what called (``button``, a robot's keyword...).
            detail: the device's own words, if any.
            p: the detector parameters.
            key: the SOS record's idempotency key: a press already taken under this key
                (another bridge's copy, stamped a moment later) changes nothing.
        """
        if self.cfg.retired or t <= self.last_sos:
            return None  # a redelivered or replayed SOS changes nothing
        if key is not None:
            keys = self.sos_keys or ()
            if key in keys:
                return None  # the same press sent by another bridge
            self.sos_keys = (*keys, key)[-SOS_KEYS_KEPT:]
        key = AlertKind.SOS.value
        entry = self.open.get(key) if self.open is not None else None
        self.last_sos = t
        if entry is not None and t - entry[2] <= p.sos_merge_s:
            entry[2] = t
            entry[3] += 1
            en = f"SOS pressed again ({entry[3]} times) at {local_clock(t)}"
            ko = f"{local_clock(t)} SOS 다시 누름 (총 {entry[3]}회)"
            return [self._alert(entry[0], AlertKind.SOS, AlertAction.UPDATE, t, en, ko,
                                device_id, {"cause": cause, "presses": entry[3]})]
        aid = alert_id(self.hid, AlertKind.SOS, from_epoch(t), device_id)
        self._opened()[key] = [aid, t, t, 1]
        en, ko = sos_reason(cause, from_epoch(t), detail)
        return [self._alert(aid, AlertKind.SOS, AlertAction.RAISE, t, en, ko, device_id,
                            {"cause": cause})]

    # -- clock

    def wake(
        self, now: float, p: DetectorParams, health_now: float | None = None
    ) -> tuple[list[AlertEvent] | None, float]:
        """Check every deadline at ``now``.

        Args:
            now: the clock (event time).
            p: thresholds.
            health_now: the clock for "silent since" health checks (gateway, devices) if it
                differs: the live worker uses the wall clock there, because a gateway that
                stops sending is a processing-time fact; ``-inf`` skips them.

        Returns:
            The alerts due, and the next moment this household must be woken.
        """
        cfg = self.cfg
        if cfg.retired or self.watch_start == 0.0:
            return None, INF
        out: list[AlertEvent] | None = None
        nxt = INF
        opened = self.open or {}
        hnow = now if health_now is None else health_now

        # gateway: heard nothing for several heartbeat intervals; a gateway never heard yet
        # is "not yet seen" (just registered, not installed), not offline since 1970
        if self.hb_interval > 0.0 and self.last_heard > 0.0:
            off_at = self.last_heard + p.gateway_missed * self.hb_interval
            if hnow >= off_at:
                if AlertKind.GATEWAY_OFFLINE.value not in opened:
                    out = self._raise(
                        out, AlertKind.GATEWAY_OFFLINE, self.last_heard, off_at,
                        f"gateway silent since {local_clock(self.last_heard)}: no heartbeat for "
                        f"{span_en(off_at - self.last_heard)}; inactivity alerts are held back "
                        "until it is heard again",
                        f"{local_clock(self.last_heard)} 이후 게이트웨이 신호 없음 "
                        f"({span_ko(off_at - self.last_heard)}); 다시 연결될 때까지 무활동 "
                        "경보를 보류합니다",
                        "", {"silent_s": round(off_at - self.last_heard)},
                    )
                    opened = self.open or {}
            else:
                nxt = off_at

        # devices silent past their reporting interval
        if self.devices:
            for dev_id, dev in self.devices.items():
                if dev.interval <= 0.0 or dev.last_seen == 0.0:
                    continue
                silent_at = dev.last_seen + p.device_silent_factor * dev.interval
                if hnow >= silent_at:
                    if f"{AlertKind.DEVICE_SILENT.value}:{dev_id}" not in opened:
                        out = self._raise(
                            out, AlertKind.DEVICE_SILENT, dev.last_seen, silent_at,
                            f"{dev.kind} sensor {dev_id} silent since "
                            f"{local_clock(dev.last_seen)} (expected every "
                            f"{span_en(dev.interval)})",
                            f"{dev.kind} 센서 {dev_id}: {local_clock(dev.last_seen)} 이후 보고 "
                            f"없음 (보고 주기 {span_ko(dev.interval)})",
                            dev_id, {"interval_s": round(dev.interval)},
                        )
                        opened = self.open or {}
                else:
                    nxt = min(nxt, silent_at)

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
                    out = self._raise(
                        out, AlertKind.AWAY_OVERRUN, start, end + p.away_grace_s,
                        f"away period ended {local_clock(end)} and no activity since; last "
                        f"activity {local_clock(base)}",
                        f"외출·입원 기간이 {local_clock(end)}에 끝났으나 그 후 활동이 없습니다. "
                        f"마지막 활동 {local_clock(base)}",
                        "", {"away_start": from_epoch(start).isoformat(),
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
                if self.long_out:
                    usual_en = f"9 in 10 of their outings end within {span_en(self.long_out)}"
                    usual_ko = f"평소 외출의 90%는 {span_ko(self.long_out)} 이내"
                else:
                    usual_en = "their usual outings are not learned yet"
                    usual_ko = "평소 외출 시간은 아직 학습 전"
                if now >= nb_at:
                    if AlertKind.NOT_BACK.value not in opened:
                        out = self._raise(
                            out, AlertKind.NOT_BACK, self.last_door, nb_at,
                            f"went out at {local_clock(self.last_door)} (entrance door, then no "
                            f"movement inside) and not back after {span_en(nb_at - self.last_door)}"
                            f"; {usual_en}",
                            f"{local_clock(self.last_door)}에 외출(현관문 후 실내 움직임 "
                            "없음)한 뒤 "
                            f"{span_ko(nb_at - self.last_door)}째 귀가하지 않았습니다. "
                            f"{usual_ko}",
                            "", {"out_s": round(nb_at - self.last_door),
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
                out = self._raise(
                    out, AlertKind.INACTIVITY, base, fixed_at,
                    f"no activity for {span_en(fixed_at - base)} since {local_clock(base)} "
                    f"(rule: {span_en(cfg.inactivity_s)})",
                    f"{local_clock(base)} 이후 {span_ko(fixed_at - base)} 동안 활동이 없습니다 "
                    f"(기준 {span_ko(cfg.inactivity_s)})",
                    "", {"silent_s": round(fixed_at - base),
                         "rule_hours": round(cfg.inactivity_s / 3600, 2),
                         "last_activity": from_epoch(base).isoformat()},
                )
        else:
            nxt = min(nxt, fixed_at)
        return out, nxt

    # -- helpers

    def _device(self, device_id: str, kind: str, t: float) -> Device:
        if self.devices is None:
            self.devices = {}
        dev = Device(kind)
        dev.first_seen = t
        dev.last_seen = t
        # unregistered ids are remembered up to a bound: a gateway sending a new id with
        # every message must not grow one household without limit (its events still count,
        # judged as a first message each)
        if len(self.devices) < MAX_DEVICES:
            self.devices[device_id] = dev
        return dev

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

    def _plug_activity(self, dev: Device, watts: float, t: float, p: DetectorParams) -> bool:
        """A plug turning on or stepping up by a meaningful amount, unless it is an appliance.

        Only rises count: a kettle switches itself off, a rice cooker drops to keep-warm, so
        a fall in power is no sign of a person (and counting it would restart the silence
        clock minutes after a collapse). A fridge, freezer or thermostat heater switches on
        by itself, night after night; a plug that does that on several recent nights
        (01:00-05:00 local) is not a person.
        """
        prev = dev.value
        dev.value = watts
        if math.isnan(prev) or watts <= prev:
            return False
        turned_on = prev < p.plug_on_w <= watts
        step = watts - prev >= max(p.plug_step_w, p.plug_step_ratio * prev)
        if not (turned_on or step):
            return False
        minute = local_minute(t)
        if turned_on and 60 <= minute < 300:
            day = int((t + 9 * 3600) // 86400)
            if day != dev.night_day:
                elapsed = day - dev.night_day if dev.night_day >= 0 else 0
                dev.night_score = dev.night_score * (0.8**elapsed) + 1.0
                dev.night_day = day
        score = dev.night_score
        if dev.night_day >= 0:
            score *= 0.8 ** max(0, int((t + 9 * 3600) // 86400) - dev.night_day)
        if score >= 2.0:
            return False
        return t - dev.first_seen >= p.plug_warmup_s

    def _silent_sensors(self) -> tuple[int, int]:
        """How many registered activity sensors are silent or offline, and of how many."""
        if not self.devices or self.open is None:
            return 0, 0
        prefix = AlertKind.DEVICE_SILENT.value + ":"
        silent = total = 0
        for d, dev in self.devices.items():
            if dev.interval > 0.0 and dev.kind in _ACTIVITY_SENSORS:
                total += 1
                if prefix + d in self.open:
                    silent += 1
        return silent, total

    def _sensors_blind(self) -> bool:
        """All registered activity sensors are silent or offline (nothing could be seen)."""
        silent, total = self._silent_sensors()
        return total > 0 and silent == total

    def _battery(
        self, out: list[AlertEvent] | None, device_id: str, value: float, t: float,
        p: DetectorParams,
    ) -> list[AlertEvent] | None:
        key = f"{AlertKind.BATTERY_LOW.value}:{device_id}"
        is_open = self.open is not None and key in self.open
        if value < p.battery_low and not is_open:
            return self._raise(
                out, AlertKind.BATTERY_LOW, t, t,
                f"battery of {device_id} low: {value:.0f}%",
                f"{device_id} 배터리 부족: {value:.0f}%",
                device_id, {"battery_percent": value},
            )
        if value >= p.battery_ok and is_open:
            return self._resolve(out, AlertKind.BATTERY_LOW, t, f"battery at {value:.0f}%",
                                 f"배터리 {value:.0f}%", device_id)
        return out

    def _availability(
        self, out: list[AlertEvent] | None, device_id: str, value: float, t: float
    ) -> list[AlertEvent] | None:
        key = f"{AlertKind.DEVICE_SILENT.value}:{device_id}"
        is_open = self.open is not None and key in self.open
        if value < 0.5 and not is_open:
            return self._raise(
                out, AlertKind.DEVICE_SILENT, t, t,
                f"device {device_id} reports itself offline",
                f"기기 {device_id} 오프라인",
                device_id, {"offline": True},
            )
        if value >= 0.5 and is_open:
            return self._resolve(out, AlertKind.DEVICE_SILENT, t, "online again",
                                 "다시 온라인", device_id)
        return out

    def _opened(self) -> dict[str, list[Any]]:
        if self.open is None:
            self.open = {}
        return self.open

    def _raise(
        self, out: list[AlertEvent] | None, kind: AlertKind, episode: float, at: float,
        en: str, ko: str, device_id: str, details: dict[str, Any],
    ) -> list[AlertEvent]:
        aid = alert_id(self.hid, kind, from_epoch(episode), device_id)
        key = f"{kind.value}:{device_id}" if device_id else kind.value
        self._opened()[key] = [aid, episode, 0]
        return self._emit(out, aid, kind, AlertAction.RAISE, at, en, ko, device_id, details)

    def _resolve(
        self, out: list[AlertEvent] | None, kind: AlertKind, t: float, en: str, ko: str,
        device_id: str, details: dict[str, Any] | None = None,
    ) -> list[AlertEvent] | None:
        key = f"{kind.value}:{device_id}" if device_id else kind.value
        entry = self.open.pop(key, None) if self.open is not None else None
        if entry is None:
            return out
        if not self.open:
            self.open = None
        return self._emit(out, entry[0], kind, AlertAction.RESOLVE, t, en, ko, device_id,
                          details or {})

    def _resolve_activity(
        self, out: list[AlertEvent] | None, kind: AlertKind, t: float, event_kind: str,
        by: str, detail: str | None,
    ) -> list[AlertEvent] | None:
        details: dict[str, Any] = {"resolved_by": by, "activity_kind": event_kind}
        if by == "checkin_answer":
            details["request_id"] = detail or ""
            en = f"the resident answered the check-in at {local_clock(t)}"
            ko = f"{local_clock(t)}에 안부 확인에 응답했습니다"
        else:
            en = f"activity again at {local_clock(t)} ({event_kind})"
            ko = f"{local_clock(t)}에 다시 활동 감지 ({event_kind})"
        return self._resolve(out, kind, t, en, ko, "", details)

    def _emit(
        self, out: list[AlertEvent] | None, aid: str, kind: AlertKind, action: AlertAction,
        at: float, en: str, ko: str, device_id: str, details: dict[str, Any],
    ) -> list[AlertEvent]:
        alert = self._alert(aid, kind, action, at, en, ko, device_id, details)
        if out is None:
            return [alert]
        out.append(alert)
        return out

    def _alert(
        self, aid: str, kind: AlertKind, action: AlertAction, at: float, en: str, ko: str,
        device_id: str, details: dict[str, Any],
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=aid,
            household_id=self.hid,
            kind=kind,
            severity=_SEVERITY[kind],
            action=action,
            raised_at=from_epoch(at),
            reason=en,
            reason_ko=ko,
            device_id=device_id or None,
            details=details,
        )
