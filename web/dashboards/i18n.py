"""Korean and English text of the dashboards (Korean first: the operators' language)."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"
LANG_COOKIE = "anbu_lang"

TEXT: dict[str, tuple[str, str]] = {
    # key: (Korean, English)
    "app": ("안부 운영 대시보드", "anbu operator dashboards"),
    "overview": ("개요", "Overview"),
    "devices": ("기기", "Devices"),
    "household": ("가구", "Household"),
    "range": ("기간", "Range"),
    "from": ("시작", "From"),
    "to": ("끝", "To"),
    "apply": ("적용", "Apply"),
    "custom": ("직접 지정", "Custom"),
    "last_1h": ("최근 1시간", "Last hour"),
    "last_6h": ("최근 6시간", "Last 6 hours"),
    "last_24h": ("최근 24시간", "Last 24 hours"),
    "last_7d": ("최근 7일", "Last 7 days"),
    "last_30d": ("최근 30일", "Last 30 days"),
    "last_90d": ("최근 90일", "Last 90 days"),
    "last_365d": ("최근 1년", "Last year"),
    "events_per_s": ("초당 이벤트", "Events per second"),
    "events_now": ("현재 초당 이벤트", "Events/s now"),
    "ingest_outcomes": ("수신 메시지 처리 결과", "Ingested messages by outcome"),
    "devices_online": ("정상 기기", "Devices online"),
    "devices_offline": ("응답 없는 기기 (보고 후 끊김)", "Unresponsive (reported, then silent)"),
    "devices_low_battery": ("배터리 부족", "Low battery"),
    "devices_never": ("아직 보고 전", "Not reported yet"),
    "unit_devices": ("대", "devices"),
    "sev_critical": ("긴급", "critical"),
    "sev_high": ("높음", "high"),
    "sev_warning": ("주의", "warning"),
    "sev_info": ("참고", "info"),
    "state_open": ("열림", "open"),
    "state_acknowledged": ("확인함", "acknowledged"),
    "state_resolved": ("해결됨", "resolved"),
    "state_false_alarm": ("오경보", "false alarm"),
    "state_auto_resolved": ("자동 해결", "resolved by itself"),
    "state_escalated": ("상위 단계로 전달", "escalated"),
    "state_checkin_requested": ("로봇 안부 확인 요청", "robot check-in asked"),
    "unit_alerts": ("건", "alerts"),
    "unit_records": ("건", "records"),
    "unit_per_s": ("건/초", "events/s"),
    "unit_msgs": ("건", "messages"),
    "unit_events": ("건", "events"),
    "open_alerts": ("진행 중인 알림", "Open alerts"),
    "open_by_dong": ("동별 진행 중 알림", "Open alerts by dong"),
    "open_by_center": ("센터별 진행 중 알림", "Open alerts by care center"),
    "alerts_per_day": ("일별 신규 알림", "New alerts per day"),
    "dong": ("동", "Dong"),
    "care_center": ("센터", "Care center"),
    "count": ("건수", "Count"),
    "activity": ("활동 (기기 종류별 건수)", "Activity (counts by device kind)"),
    "per_step": ("막대 하나", "one bar"),
    "alerts": ("알림", "Alerts"),
    "alert_marks": ("알림 기록", "Alert history"),
    "time": ("시각", "Time"),
    "kind": ("종류", "Kind"),
    "severity": ("심각도", "Severity"),
    "state": ("상태", "State"),
    "actor": ("처리자", "By"),
    "device": ("기기", "Device"),
    "room": ("위치", "Room"),
    "online": ("상태", "Status"),
    "last_seen": ("마지막 보고", "Last seen"),
    "silent_for": ("무응답 시간", "Silent for"),
    "battery": ("배터리", "Battery"),
    "linkquality": ("신호 품질", "Link quality"),
    "status_ok": ("정상", "OK"),
    "status_silent": ("무응답", "Silent"),
    "status_never": ("아직 보고 전", "Not reported yet"),
    "status_low": ("배터리 부족", "Low battery"),
    "never": ("없음", "never"),
    "no_activity": ("이 기간에 기록된 활동이 없습니다.", "No activity recorded in this range."),
    "no_alerts": ("이 기간에 알림이 없습니다.", "No alerts in this range."),
    "no_devices": ("기기 상태 기록이 없습니다.", "No device health recorded."),
    "health_as_of": ("기기 상태 기준 시각", "Device health as of"),
    "health_stale": (
        "기기 상태가 오래되었습니다: 시계열 기록기(anbu series)가 멈췄을 수 있습니다.",
        "Device health is stale: the series writer (anbu series) may have stopped.",
    ),
    "devices_hint": (
        "점검이 필요한 기기만 표시합니다: 보고 없음·무응답 기기가 먼저(오래된 순), "
        "그다음 배터리 부족 순입니다 (설치 기사 순회용).",
        "Only devices that need someone are listed: never-reported and silent first (longest "
        "first), then low batteries (for installers' rounds).",
    ),
    "battery_levels": ("전체 기기 배터리 분포", "Battery levels of all devices"),
    "series_behind": ("집계 대기 이벤트 레코드", "Event records not yet counted"),
    "series_stopped": (
        "시계열 기록기(anbu series)가 5분 넘게 기록하지 않았습니다: "
        "그래프가 최신이 아닐 수 있습니다.",
        "The series writer (anbu series) has not written for over 5 minutes: charts may be "
        "out of date.",
    ),
    "all_fine": ("점검이 필요한 기기가 없습니다.", "No device needs attention."),
    "household_search": ("가구 ID", "Household id"),
    "open": ("열기", "Open"),
    "total_activity": ("기간 내 활동 건수", "Activity in range"),
    "signin": ("로그인", "Sign in"),
    "signout": ("로그아웃", "Sign out"),
    "username": ("아이디", "User name"),
    "password": ("비밀번호", "Password"),
    "signin_hint": (
        "센터장이나 관리자에게 받은 아이디와 비밀번호로 로그인하세요.",
        "Sign in with the user name and password your center lead or administrator gave you.",
    ),
    "bad_credentials": (
        "아이디 또는 비밀번호가 틀렸습니다.",
        "Wrong user name or password.",
    ),
    "locked": (
        "비밀번호가 여러 번 틀려 계정이 {until}까지 잠겼습니다. "
        "급하면 센터장이나 관리자에게 비밀번호 재설정을 요청하세요.",
        "Too many wrong passwords: the account is locked until {until}. If it is urgent, "
        "ask your center lead or administrator to reset your password.",
    ),
    "accounts": ("계정 관리", "Accounts"),
    "accounts_hint": (
        "관리자는 모든 계정을, 센터장은 소속 센터의 직원·설치 기사 계정을 만들고, 비밀번호를 "
        "재설정하고, 사용을 중지할 수 있습니다. 비밀번호는 한 번만 표시됩니다.",
        "Admins manage every account; a center lead manages the staff and installers of their "
        "center. A password is shown once.",
    ),
    "new_account": ("새 계정", "New account"),
    "display_name": ("이름", "Name"),
    "role": ("역할", "Role"),
    "create": ("만들기", "Create"),
    "reset_password": ("비밀번호 재설정", "Reset password"),
    "disable": ("사용 중지", "Disable"),
    "enable": ("다시 사용", "Enable"),
    "status": ("상태", "Status"),
    "active": ("사용 중", "Active"),
    "disabled": ("중지됨", "Disabled"),
    "locked_until": ("잠김 (~{until})", "Locked (until {until})"),
    "last_signin": ("마지막 로그인", "Last sign-in"),
    "issued_password": (
        "{user}의 새 비밀번호 (지금 본인에게 전달하세요. 다시 표시되지 않습니다):",
        "New password of {user} (hand it over now; it is not shown again):",
    ),
    "not_allowed": (
        "이 작업은 관리자나 센터장만 할 수 있습니다.",
        "Only an administrator or a center lead may do this.",
    ),
    "role_installer": ("설치 기사", "installer"),
    "role_staff": ("센터 직원", "staff"),
    "role_lead": ("센터장", "center lead"),
    "role_operator": ("운영자 (구청)", "operator"),
    "role_admin": ("관리자", "admin"),
    "all_centers": ("전체", "all"),
    "recent_changes": ("최근 변경 기록", "Recent changes"),
    "inbox": ("알림함", "Inbox"),
    "signed_in_as": ("로그인:", "Signed in as"),
    "unavailable": (
        "시계열 데이터베이스에 연결할 수 없습니다. "
        "잘못된 그림 대신 아무것도 표시하지 않습니다.",
        "The time-series database cannot be reached; nothing is shown rather than a false "
        "picture.",
    ),
    "not_yours": (
        "이 가구는 소속 센터의 가구가 아닙니다.",
        "This household does not belong to your care center.",
    ),
    "seoul_time": ("시각은 서울 기준", "Times in Asia/Seoul"),
    "other_lang": ("English", "한국어"),
}


def translator(lang: str) -> Callable[[str], str]:
    """Return ``t(key)`` for ``lang`` (unknown keys come back as themselves)."""
    index = 0 if lang == "ko" else 1

    def t(key: str) -> str:
        pair = TEXT.get(key)
        return pair[index] if pair else key

    return t


def pick_lang(query_lang: str | None, cookie_lang: str | None, accept: str | None) -> str:
    """The page language: ``?lang=``, then the cookie, then Accept-Language, then Korean."""
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGS:
            return candidate
    if accept and accept.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG
