"""The alert reasons care workers read (detectors/text.py), in English and Korean."""

from __future__ import annotations

from datetime import UTC, datetime

from detectors.text import away_overrun_reason, not_back_reason


def _epoch(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def test_away_overrun_names_the_end_and_last_activity_in_seoul_time() -> None:
    end = _epoch(2026, 11, 22, 1, 0)  # 10:00 in Seoul
    last = _epoch(2026, 11, 20, 23, 30)  # 08:30 the next day in Seoul
    en, ko = away_overrun_reason(end, last)
    assert en == ("away period ended 2026-11-22 10:00 and no activity since; "
                  "last activity 2026-11-21 08:30")
    assert ko == ("외출·입원 기간이 2026-11-22 10:00에 끝났으나 그 후 활동이 없습니다. "
                  "마지막 활동 2026-11-21 08:30")


def test_not_back_says_whether_usual_outings_are_learned() -> None:
    door = _epoch(2026, 11, 22, 1, 0)
    en, ko = not_back_reason(door, door + 5 * 3600, 2 * 3600)
    assert "not back after 5 h 0 min; 9 in 10 of their outings end within 2 h 0 min" in en
    assert "5시간 0분째 귀가하지 않았습니다. 평소 외출의 90%는 2시간 0분 이내" in ko
    en, ko = not_back_reason(door, door + 5 * 3600, 0.0)
    assert en.endswith("; their usual outings are not learned yet")
    assert ko.endswith("평소 외출 시간은 아직 학습 전")
