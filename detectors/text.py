"""Plain-language alert reasons for care workers, in English and Korean."""

from __future__ import annotations

from datetime import datetime

from anbu.timeutil import from_epoch, in_seoul

_WEEKDAYS_EN = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]
_WEEKDAYS_KO = ["월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"]


def _parts(seconds: float) -> tuple[int, int, int]:
    minutes = int(seconds // 60)
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    return days, hours, mins


def span_en(seconds: float) -> str:
    """``2 h 40 min``, ``3 d 4 h``, ``12 min``."""
    days, hours, mins = _parts(seconds)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def span_ko(seconds: float) -> str:
    """``2시간 40분``, ``3일 4시간``, ``12분``."""
    days, hours, mins = _parts(seconds)
    if days:
        return f"{days}일 {hours}시간"
    return f"{hours}시간 {mins}분" if hours else f"{mins}분"


def local_clock(t: float) -> str:
    """``2026-11-22 10:00`` in Asia/Seoul."""
    return in_seoul(from_epoch(t)).strftime("%Y-%m-%d %H:%M")


def rarity_en(probability: float) -> str:
    """``rarer than 1 in 100,000``."""
    if probability <= 0:
        return "practically never seen"
    return f"rarer than 1 in {_round_odds(1 / probability):,}"


def rarity_ko(probability: float) -> str:
    """``10만 번에 1번보다 드뭅니다``."""
    if probability <= 0:
        return "거의 일어나지 않는 일입니다"
    odds = _round_odds(1 / probability)
    if odds >= 10000:
        return f"{odds // 10000:,}만 번에 1번보다 드뭅니다"
    return f"{odds:,}번에 1번보다 드뭅니다"


def _round_odds(odds: float) -> int:
    """Round down to one significant digit so the text does not claim false precision."""
    if odds < 10:
        return max(1, int(odds))
    magnitude = 10 ** (len(str(int(odds))) - 1)
    return int(odds // magnitude) * magnitude


def weekday_of(t: float) -> int:
    """Monday 0 ... Sunday 6, in Seoul."""
    moment: datetime = in_seoul(from_epoch(t))
    return moment.weekday()


def routine_reason(
    silent_s: float, at: float, rate: float, probability: float, silent_sensors: int = 0,
    damp: float = 1.0,
) -> tuple[str, str]:
    """Reason of a routine-aware inactivity alert.

    Args:
        silent_s: how long nothing was seen.
        at: when the alert is raised (its weekday is named).
        rate: the resident's usual active slots an hour at this time.
        probability: how likely such a silence is under the routine.
        silent_sensors: activity sensors not reporting (the check waited longer for them).
        damp: the usual activity was divided by this while sensors are silent.
    """
    wd = weekday_of(at)
    en = (
        f"no activity for {span_en(silent_s)}; at this time on {_WEEKDAYS_EN[wd]} this resident "
        f"is usually active about {rate:.0f} times an hour; such a silence is "
        f"{rarity_en(probability)}"
    )
    ko = (
        f"{span_ko(silent_s)} 동안 활동이 없습니다. 평소 {_WEEKDAYS_KO[wd]} 이 시간대에는 "
        f"시간당 약 {rate:.0f}회 활동이 있습니다. 이런 정적은 {rarity_ko(probability)}"
    )
    if silent_sensors:
        share = f"{100 / damp:.0f}%"
        en += (f" (counting only {share} of the usual activity, as {silent_sensors} sensor(s) "
               "are not reporting)")
        ko += f" (센서 {silent_sensors}개가 보고하지 않아 평소 활동의 {share}만 기대하고 판단함)"
    return en, ko


def _band_hours(t: float) -> tuple[int, int]:
    start = in_seoul(from_epoch(t)).hour // 3 * 3
    return start, start + 3


def _days_en(days: float) -> str:
    if days >= 1e6:
        return "practically never"
    return f"about once in {_round_odds(days):,} days"


def _days_ko(days: float) -> str:
    if days >= 1e6:
        return "거의 없는 일입니다"
    return f"약 {_round_odds(days):,}일에 한 번 있을 만한 일입니다"


def silence_reason(
    silent_s: float, since: float, resting: bool, days: float, own: float, usual_s: float,
    rare_days: float, silent_sensors: int = 0, damp: float = 1.0,
) -> tuple[str, str]:
    """Reason of an alert of the silences model, with figures a care worker can check.

    Args:
        silent_s: how long nothing was seen.
        since: the last activity.
        resting: a bed or couch mat was occupied when the silence began.
        days: days of this resident's history learned.
        own: their silences of 30 min or more that began at this time of day (decayed count).
        usual_s: how long such a silence usually lasts (the fitted mean).
        rare_days: one silence as long as this one is expected once in this many days.
        silent_sensors: activity sensors not reporting (the check waited longer for them).
        damp: the threshold was multiplied by this while sensors are silent.
    """
    lo, hi = _band_hours(since)
    where_en = " (on the bed or couch)" if resting else ""
    where_ko = " (침대나 소파 위)" if resting else ""
    en = (
        f"quiet for {span_en(silent_s)} since {local_clock(since)}{where_en}; in the last "
        f"{days:.0f} days this resident's quiet spells that began between {lo:02d}:00 and "
        f"{hi:02d}:00 (about {own:.0f} of 30 min or more) usually ended after "
        f"{span_en(usual_s)}; one this long is expected {_days_en(rare_days)}"
    )
    ko = (
        f"{local_clock(since)} 이후 {span_ko(silent_s)} 동안 활동이 없습니다{where_ko}. 최근 "
        f"{days:.0f}일 동안 이 분이 {lo:02d}시~{hi:02d}시에 시작한 조용한 시간(30분 이상 약 "
        f"{own:.0f}번)은 보통 {span_ko(usual_s)} 뒤에 끝났습니다. 이만큼 긴 정적은 "
        f"{_days_ko(rare_days)}"
    )
    if silent_sensors:
        en += (f" (waited {damp:.0f} times as long, as {silent_sensors} sensor(s) are not "
               "reporting)")
        ko += f" (센서 {silent_sensors}개가 보고하지 않아 {damp:.0f}배 더 기다림)"
    return en, ko


def away_overrun_reason(end: float, last_activity: float) -> tuple[str, str]:
    """An away period is over and nothing has moved since."""
    return (
        f"away period ended {local_clock(end)} and no activity since; last "
        f"activity {local_clock(last_activity)}",
        f"외출·입원 기간이 {local_clock(end)}에 끝났으나 그 후 활동이 없습니다. "
        f"마지막 활동 {local_clock(last_activity)}",
    )


def not_back_reason(door: float, at: float, long_out: float) -> tuple[str, str]:
    """Out through the entrance door at ``door`` and not back at ``at``.

    Args:
        door: when the entrance door opened (then no movement inside).
        at: the moment of the alert.
        long_out: the learned length within which 9 in 10 outings end (0: not learned).
    """
    if long_out:
        usual_en = f"9 in 10 of their outings end within {span_en(long_out)}"
        usual_ko = f"평소 외출의 90%는 {span_ko(long_out)} 이내"
    else:
        usual_en = "their usual outings are not learned yet"
        usual_ko = "평소 외출 시간은 아직 학습 전"
    return (
        f"went out at {local_clock(door)} (entrance door, then no "
        f"movement inside) and not back after {span_en(at - door)}"
        f"; {usual_en}",
        f"{local_clock(door)}에 외출(현관문 후 실내 움직임 "
        "없음)한 뒤 "
        f"{span_ko(at - door)}째 귀가하지 않았습니다. "
        f"{usual_ko}",
    )


def inactivity_reason(last_activity: float, at: float, rule_s: float) -> tuple[str, str]:
    """The fixed rule: no activity for ``rule_s`` seconds."""
    return (
        f"no activity for {span_en(at - last_activity)} since {local_clock(last_activity)} "
        f"(rule: {span_en(rule_s)})",
        f"{local_clock(last_activity)} 이후 {span_ko(at - last_activity)} 동안 활동이 없습니다 "
        f"(기준 {span_ko(rule_s)})",
    )


def gateway_offline_reason(last_heard: float, at: float) -> tuple[str, str]:
    """The gateway has sent no heartbeat since ``last_heard``."""
    return (
        f"gateway silent since {local_clock(last_heard)}: no heartbeat for "
        f"{span_en(at - last_heard)}; inactivity alerts are held back "
        "until it is heard again",
        f"{local_clock(last_heard)} 이후 게이트웨이 신호 없음 "
        f"({span_ko(at - last_heard)}); 다시 연결될 때까지 무활동 "
        "경보를 보류합니다",
    )


def device_silent_reason(
    kind: str, device_id: str, last_seen: float, interval: float
) -> tuple[str, str]:
    """A sensor has not reported for several of its reporting intervals."""
    return (
        f"{kind} sensor {device_id} silent since "
        f"{local_clock(last_seen)} (expected every "
        f"{span_en(interval)})",
        f"{kind} 센서 {device_id}: {local_clock(last_seen)} 이후 보고 "
        f"없음 (보고 주기 {span_ko(interval)})",
    )
