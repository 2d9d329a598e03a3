"""How an SOS reads and becomes an alert, shared by the detector and the alerts service.

The alerts service reads ``anbu.sos`` itself as well as the detector's ``anbu.alerts``, so an
SOS reaches a care worker even while the detector worker is busy with telemetry, restarting
or down. Both build the alert here, so they agree on its id and its words; the alerts
service keeps one open SOS alert per household, so the second arrival changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from anbu.events import AlertAction, AlertEvent, AlertKind, Severity, SosEvent, alert_id
from anbu.timeutil import in_seoul

_WHAT_EN = {
    "button": "emergency button pressed",
    "robot_emergency": "care robot heard an emergency call",
    "fall": "fall detected",
    "checkin_not_ok": "resident told the care robot they are not all right",
    "call_help": "resident asked for help on a scheduled check-in call",
}
_WHAT_KO = {
    "button": "비상 버튼이 눌렸습니다",
    "robot_emergency": "돌봄 로봇이 긴급 호출을 들었습니다",
    "fall": "낙상이 감지되었습니다",
    "checkin_not_ok": "돌봄 로봇의 안부 확인에 괜찮지 않다고 응답했습니다",
    "call_help": "정기 안부 전화에서 도움을 요청했습니다",
}


def sos_reason(cause: str, moment: datetime, detail: str | None = None) -> tuple[str, str]:
    """Return the SOS alert's reason in English and Korean, with the local (Seoul) time."""
    clock = in_seoul(moment).strftime("%Y-%m-%d %H:%M")
    extra = f" ({detail})" if detail else ""
    en = f"{_WHAT_EN.get(cause, f'SOS ({cause})')} at {clock}{extra}"
    ko = f"{clock} {_WHAT_KO.get(cause, f'SOS ({cause})')}{extra}"
    return en, ko


def sos_raise(
    household_id: str, cause: str, at: datetime, source: str, *,
    device_id: str | None = None, detail: str | None = None,
) -> AlertEvent:
    """Return the RAISE of an SOS alert.

    Args:
        household_id: the household calling for help.
        cause: what raised it (a :class:`anbu.events.SosCause` value or ``call_help``).
        at: when it was raised; with ``source``, it makes the alert's id.
        source: what sent it (a device id, or ``checkin-call``), part of the id.
        device_id: the device that sent it, if one did.
        detail: words the device added, shown after the reason.
    """
    en, ko = sos_reason(cause, at, detail)
    return AlertEvent(
        alert_id=alert_id(household_id, AlertKind.SOS, at, source),
        household_id=household_id,
        kind=AlertKind.SOS,
        severity=Severity.CRITICAL,
        action=AlertAction.RAISE,
        raised_at=at,
        reason=en,
        reason_ko=ko,
        device_id=device_id,
        details={"cause": cause},
    )


def sos_alert(event: SosEvent) -> AlertEvent:
    """Return the RAISE of the SOS alert for ``event``, as the detector would raise it."""
    return sos_raise(
        event.household_id,
        event.cause.value,
        event.event_time,
        event.device_id,
        device_id=event.device_id,
        detail=event.detail,
    )
