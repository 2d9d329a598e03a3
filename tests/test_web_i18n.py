"""The one table of words (anbu/i18n.toml): every word a page or script asks for is there in
Korean and English, and device kinds, rooms and alert states read the same everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from alerts.checkin_summary import CallStatus
from alerts.messages import GROUPS, Group, label
from alerts.model import HistoryLabel
from anbu.call_schedule import DAYS
from anbu.events import AlertKind, Severity
from anbu.registry_records import DeviceKindName
from web.i18n import Section, call_status_name, kind_name, room_name, words

WEB = Path(__file__).resolve().parent.parent / "web"
INBOX = Path(__file__).resolve().parent.parent / "alerts" / "static" / "inbox.html"
# Which files ask which section for words, and how they ask.
CALL = re.compile(r"""\bt\(\s*["'](\w+)["']\s*\)""")  # Jinja t("key") of the dashboards
ATTR = re.compile(r"\b[tT]\.(\w+)\b")  # t.key in templates, T.key in the installer's script
DATA_T = re.compile(r"""\bdata-t=["'](\w+)["']""")  # the inbox's <h1 data-t="title">
USERS: dict[Section, list[tuple[Path, re.Pattern[str]]]] = {
    "dashboards": [(path, CALL) for path in sorted((WEB / "templates").glob("dash_*.html"))]
    + [(path, CALL) for path in sorted((WEB / "templates").glob("acc_*.html"))],
    "install": [(path, ATTR) for path in sorted((WEB / "install" / "templates").glob("*.html"))]
    + [(WEB / "install" / "static" / "install.js", ATTR)],
    "household": [(WEB / "templates" / "household.html", ATTR)],
    "review": [(WEB / "templates" / "review.html", ATTR)],
    "inbox": [(INBOX, CALL), (INBOX, DATA_T)],
}


def missing(section: Section, texts: list[tuple[str, re.Pattern[str]]]) -> set[str]:
    """The keys ``texts`` ask for that ``section`` lacks in either language."""
    asked = {key for text, pattern in texts for key in pattern.findall(text)}
    return {key for key in asked for lang in ("ko", "en") if key not in words(section, lang)}


def test_every_word_asked_for_is_in_both_languages() -> None:
    for section, users in USERS.items():
        assert users and all(path.exists() for path, _ in users), section
        texts = [(path.read_text(encoding="utf-8"), pattern) for path, pattern in users]
        assert missing(section, texts) == set(), section
        ko, en = words(section, "ko"), words(section, "en")
        assert ko.keys() == en.keys()
        assert all(ko[key].strip() and en[key].strip() for key in ko), section
    # Positive control: a word no table has is reported, in either way of asking.
    assert missing("dashboards", [('{{ t("no_such_word") }}', CALL)]) == {"no_such_word"}
    assert missing("install", [("T.no_such_word", ATTR)]) == {"no_such_word"}
    assert missing("inbox", [('<p data-t="no_such_word">', DATA_T)]) == {"no_such_word"}


def test_kinds_and_rooms_read_the_same_on_every_page() -> None:
    for kind in get_args(DeviceKindName):
        assert kind_name(kind, "ko") != kind and kind_name(kind, "en") != kind, kind
    assert kind_name("door", "ko") == "현관문 센서"
    assert kind_name("door", "en") == "Entrance door sensor"
    # Rooms are stored in Korean; the demo homes' codes stand for the same rooms.
    assert room_name("거실", "en") == room_name("living_room", "en") == "Living room"
    assert room_name("living", "ko") == "거실"
    assert room_name("다락방", "en") == "다락방"  # typed by the installer: shown as typed
    assert room_name(None, "ko") == ""
    assert words("install", "ko")["signout"] == words("dashboards", "ko")["signout"]


def test_every_call_status_and_day_has_words_in_both_languages() -> None:
    for lang in ("ko", "en"):
        for status in CallStatus:
            assert call_status_name(status, lang) != status.value, (status, lang)
        assert set(DAYS) | {"daily", "weekdays", "weekends"} == set(words("call_days", lang))
    assert call_status_name("no_answer", "ko") == "받지 않음"
    assert call_status_name("no_such_status", "en") == "no_such_status"  # control: no words


def test_every_alert_kind_severity_and_state_has_words_in_both_languages() -> None:
    named: dict[Group, tuple[str, ...]] = {
        "kind": tuple(AlertKind), "severity": tuple(Severity), "state": tuple(HistoryLabel),
    }
    assert set(named) == set(GROUPS)
    for group, keys in named.items():
        for key in keys:
            ko, en = label(group, key, "ko"), label(group, key, "en")
            assert ko != key and en != key and ko != en, (group, key)
    assert label("state", "false_alarm", "ko") == "오경보"
    assert label("kind", "sos", "en") == "Emergency call (SOS)"
    assert label("kind", "no_such_kind", "ko") == "no_such_kind"  # control: no words
