"""A household's devices: what is remembered of each, their health, and a plug's activity.

The gateway's and devices' "silent since" checks, battery and availability reports, and the
rule that tells a person switching on an appliance from a fridge doing it by itself. A mixin
of :class:`detectors.household.Household`, which holds the state (``__slots__``).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from anbu.events import AlertEvent, AlertKind
from detectors.household_alerts import AlertBook
from detectors.params import DetectorParams
from detectors.routine import local_minute
from detectors.text import device_silent_reason, gateway_offline_reason

INF = math.inf
MAX_DEVICES = 256
"""Devices an unregistered id is still remembered for; registered ones always are."""
# Floats that all restored households share: these, and whole numbers below a million met
# on restore (intervals, watts), up to a bound. Timestamps are never among them.
_ZERO = 0.0
_NAN = math.nan
_COMMON_FLOATS = {v: v for v in (1.0, -1.0, INF, -INF)}
_COMMON_MAX = 4096
ACTIVITY_SENSORS = frozenset({"motion", "door", "contact", "presence"})
"""Device kinds whose silence leaves the detector unable to see the resident."""


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


class DeviceWatch(AlertBook):
    """The devices' part of a household (a mixin; the state is the household's)."""

    __slots__ = ("devices", "hb_interval", "last_heard")
    devices: dict[str, Device] | None
    hb_interval: float
    last_heard: float

    def _health(
        self, hnow: float, p: DetectorParams, out: list[AlertEvent] | None, nxt: float
    ) -> tuple[list[AlertEvent] | None, float]:
        """Raise gateway_offline and device_silent due at ``hnow``; the next such deadline."""
        opened = self.open or {}
        # gateway: heard nothing for several heartbeat intervals; a gateway never heard yet
        # is "not yet seen" (just registered, not installed), not offline since 1970
        if self.hb_interval > 0.0 and self.last_heard > 0.0:
            off_at = self.last_heard + p.gateway_missed * self.hb_interval
            if hnow >= off_at:
                if AlertKind.GATEWAY_OFFLINE.value not in opened:
                    en, ko = gateway_offline_reason(self.last_heard, off_at)
                    out = self._raise(
                        out, AlertKind.GATEWAY_OFFLINE, self.last_heard, off_at, en, ko, "",
                        {"silent_s": round(off_at - self.last_heard)},
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
                        en, ko = device_silent_reason(dev.kind, dev_id, dev.last_seen,
                                                      dev.interval)
                        out = self._raise(
                            out, AlertKind.DEVICE_SILENT, dev.last_seen, silent_at, en, ko,
                            dev_id, {"interval_s": round(dev.interval)},
                        )
                        opened = self.open or {}
                else:
                    nxt = min(nxt, silent_at)
        return out, nxt

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
            if dev.interval > 0.0 and dev.kind in ACTIVITY_SENSORS:
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
