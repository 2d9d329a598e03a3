"""One household's detector state: fed events and clock ticks, it returns alert events.

Pure: no I/O, no wall clock. Time is event time in epoch seconds (floats, for speed); the
caller (the engine) decides when to wake a household and passes the current time.

Every deadline is derived from the state alone (last activity, last heartbeat, the end of an
away period...), never from when the household happened to be woken, so a worker that
restarts and replays its input raises the same alerts with the same ids and times.
"""

from __future__ import annotations

import math
from typing import Any

from anbu.events import AlertAction, AlertEvent, AlertKind, alert_id
from anbu.sos import sos_reason
from anbu.timeutil import from_epoch
from detectors.household_care import CareDeadlines
from detectors.household_devices import (
    _DEVICE_FLOATS,
    MAX_DEVICES,
    Device,
    share_float,
)
from detectors.params import DetectorParams, HouseholdConfig
from detectors.routine import Routine
from detectors.silences import Silences
from detectors.text import local_clock

__all__ = ["INF", "MAX_DEVICES", "SOS_KEYS_KEPT", "Device", "Household", "share_float"]

INF = math.inf
SOS_KEYS_KEPT = 8
"""SOS idempotency keys a household remembers. Another bridge's copy of a press comes within
a second or so, with at most a press or two of the same household between; eight keys
(about 60 B each) leave a wide margin and keep the state small."""
_DEFAULT_CONFIG = HouseholdConfig()

# Event kinds (EventKind values) as plain strings: compared millions of times a second.
_INSIDE_ALWAYS = frozenset({"motion", "robot", "checkin_answer", "button"})
_ON_CHANGE = frozenset({"contact", "presence", "door"})
_INACTIVITY_KINDS = (
    AlertKind.INACTIVITY,
    AlertKind.INACTIVITY_ROUTINE,
    AlertKind.NOT_BACK,
    AlertKind.AWAY_OVERRUN,
)

_ORDINARY_S = 24 * 3600.0
"""A routine alert that activity ends sooner after the silence began was ordinary life."""


class Household(CareDeadlines):
    """The detector state of one household.

    This module holds the state, its persistence and the inputs (device events, SOS); the
    clock's checks are in :mod:`detectors.household_devices` (gateway and devices) and
    :mod:`detectors.household_care` (away, not back, inactivity), the open alerts in
    :mod:`detectors.household_alerts`: mixins with no state of their own.
    """

    __slots__ = ("due", "hb_registered", "last_hb", "last_sos", "sos_keys")
    # every field, the mixins' too, in the order a pickled household keeps them (the
    # alphabetical order of the one __slots__ of before the split)
    _FIELDS = ("cfg", "deferred", "devices", "due", "hb_interval", "hb_registered", "hid",
               "last_activity", "last_door", "last_hb", "last_heard", "last_inside", "last_sos",
               "long_out", "open", "routine", "sos_keys", "unblind_at", "watch_start")

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

    _PERSISTED = tuple(s for s in _FIELDS if s not in ("cfg", "due"))

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
        if self.cfg.retired or self.watch_start == 0.0:
            return None, INF
        hnow = now if health_now is None else health_now
        out, nxt = self._health(hnow, p, None, INF)
        return self._care(now, p, out, nxt)

