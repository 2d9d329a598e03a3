"""A household's open alerts and the alert events it emits: raise, resolve, update.

Kept apart from the deadlines (:mod:`detectors.household_care`) and the devices
(:mod:`detectors.household_devices`): every part of :class:`detectors.household.Household`
raises and resolves through these few methods, so an alert's id, key and severity are made in
one place.
"""

from __future__ import annotations

from typing import Any

from anbu.events import AlertAction, AlertEvent, AlertKind, Severity, alert_id
from anbu.timeutil import from_epoch
from detectors.text import local_clock

SEVERITY = {
    AlertKind.SOS: Severity.CRITICAL,
    AlertKind.INACTIVITY: Severity.HIGH,
    AlertKind.INACTIVITY_ROUTINE: Severity.HIGH,
    AlertKind.NOT_BACK: Severity.HIGH,
    AlertKind.AWAY_OVERRUN: Severity.HIGH,
    AlertKind.DEVICE_SILENT: Severity.WARNING,
    AlertKind.BATTERY_LOW: Severity.INFO,
    AlertKind.GATEWAY_OFFLINE: Severity.WARNING,
}
"""The severity of each kind of alert the core raises."""


class AlertBook:
    """The open alerts of one household (a mixin of :class:`detectors.household.Household`).

    ``open`` maps a key (the kind, or ``kind:device``) to ``[alert_id, episode_start,
    flags...]``; None while nothing is open, to keep an idle household small.
    """

    __slots__ = ("hid", "open")
    hid: str
    open: dict[str, list[Any]] | None

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
            severity=SEVERITY[kind],
            action=action,
            raised_at=from_epoch(at),
            reason=en,
            reason_ko=ko,
            device_id=device_id or None,
            details=details,
        )
