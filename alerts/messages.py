"""Words care-center staff read, in Korean and English: kinds, severities, states."""

from __future__ import annotations

from typing import Any

from alerts.model import Alert
from anbu.timeutil import in_seoul

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "kind": {
        "sos": {"ko": "긴급 호출 (SOS)", "en": "Emergency call (SOS)"},
        "inactivity": {"ko": "장시간 활동 없음", "en": "No activity for a long time"},
        "inactivity_routine": {"ko": "평소와 다른 무활동", "en": "Unusual silence for this home"},
        "not_back": {"ko": "외출 후 미귀가", "en": "Not back from an outing"},
        "away_overrun": {"ko": "부재 기간 후 미귀가", "en": "Not back after the away period"},
        "checkin_missed": {"ko": "안부 전화 연속 미응답", "en": "Check-in calls missed in a row"},
        "device_silent": {"ko": "기기 응답 없음", "en": "Device silent"},
        "battery_low": {"ko": "배터리 부족", "en": "Battery low"},
        "gateway_offline": {"ko": "게이트웨이 연결 끊김", "en": "Gateway offline"},
    },
    "severity": {
        "critical": {"ko": "긴급", "en": "Critical"},
        "high": {"ko": "높음", "en": "High"},
        "warning": {"ko": "주의", "en": "Warning"},
        "info": {"ko": "정보", "en": "Info"},
    },
    "state": {
        "open": {"ko": "미확인", "en": "Open"},
        "acknowledged": {"ko": "확인함", "en": "Acknowledged"},
        "resolved": {"ko": "해결됨", "en": "Resolved"},
        "auto_resolved": {"ko": "활동 재개로 자동 해제", "en": "Auto-resolved (activity returned)"},
        "false_alarm": {"ko": "오경보", "en": "False alarm"},
        "escalated": {"ko": "상위 단계로 전달", "en": "Escalated"},
        "checkin_requested": {"ko": "로봇 안부 확인 요청", "en": "Robot check-in requested"},
        "visit": {"ko": "방문 기록", "en": "Doorstep visit"},
    },
}


def label(group: str, key: str, lang: str) -> str:
    """The ``lang`` word for ``key`` in ``group`` (the key itself if unknown)."""
    return LABELS.get(group, {}).get(key, {}).get(lang, key)


def alert_context(alert: Alert, tier: int, inbox_url: str | None) -> dict[str, Any]:
    """What the notification templates may use (pseudonymous ids only)."""
    seoul = in_seoul(alert.raised_at)
    return {
        "alert": alert,
        "tier": tier,
        "inbox_url": inbox_url,
        "raised_local": seoul.strftime("%Y-%m-%d %H:%M"),
        "kind_ko": label("kind", alert.kind, "ko"),
        "kind_en": label("kind", alert.kind, "en"),
        "severity_ko": label("severity", alert.severity, "ko"),
        "severity_en": label("severity", alert.severity, "en"),
    }
