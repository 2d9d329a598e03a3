"""Korean and English words of every web page, from the one table ``anbu/i18n.toml``.

The dashboards, the accounts pages, the installer app and the household page each read the
table's ``[common]`` section and their own; device kinds, rooms, protocols and activity
kinds are shared, so a sensor is called the same on every page. Korean is the default (the
care workers' and installers' language); the choice follows ``?lang=``, then the language
cookie every page sets, then the browser's Accept-Language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from anbu.call_schedule import DAYS, CallSchedule, day_runs
from anbu.i18n import DEFAULT_LANG, LANGS, ROOM_CODES, Section, words
from anbu.registry_records import DeviceKindName

__all__ = [
    "DEFAULT_LANG", "KINDS", "LANGS", "LANG_COOKIE", "Section", "call_status_name", "days_words",
    "kind_name", "pick_lang", "room_name", "room_names", "schedule_words", "translator", "words",
]

LANG_COOKIE = "anbu_lang"

KINDS: tuple[str, ...] = get_args(DeviceKindName)
"""The registry's device kinds, in the order the installer app offers them."""


def translator(lang: str, section: Section = "dashboards") -> Callable[[str], str]:
    """Return ``t(key)`` for ``lang`` (unknown keys come back as themselves)."""
    table = words(section, lang)
    return lambda key: table.get(key, key)


def kind_name(kind: str, lang: str) -> str:
    """A device kind (``motion``) as people say it (``동작 센서``, ``Motion sensor``)."""
    return words("device_kind", lang).get(kind, kind)


def room_names(lang: str) -> dict[str, str]:
    """Every stored room value known (``거실``, a demo home's code ``living``) -> ``lang``."""
    rooms = words("room", lang)
    return {**rooms, **{code: rooms[room] for code, room in ROOM_CODES.items()}}


def room_name(room: str | None, lang: str) -> str:
    """A stored room in ``lang`` (as stored if unknown: the installer typed it); ``""`` if unset."""
    if not room:
        return ""
    return room_names(lang).get(room, room)


# How days are listed and spanned in each language: 월·수·금, 화~목 / Mon, Wed, Fri, Tue–Thu.
_DAY_LIST = {"ko": "·", "en": ", "}
_DAY_SPAN = {"ko": "~", "en": "–"}
_NAMED_DAYS = {(0, 1, 2, 3, 4, 5, 6): "daily", (0, 1, 2, 3, 4): "weekdays", (5, 6): "weekends"}


def days_words(days: tuple[int, ...], lang: str) -> str:
    """Weekdays (Monday = 0) as people say them: ``평일``, ``월·수·금``, ``Tue–Thu``."""
    names = words("call_days", lang)
    if days in _NAMED_DAYS:
        return names[_NAMED_DAYS[days]]
    listed: list[str] = []
    for run in day_runs(list(days)):
        if len(run) >= 3:  # a span; two days in a row are listed: "Sat, Sun"
            listed.append(f"{names[DAYS[run[0]]]}{_DAY_SPAN[lang]}{names[DAYS[run[-1]]]}")
        else:
            listed.extend(names[DAYS[day]] for day in run)
    return _DAY_LIST[lang].join(listed)


def schedule_words(schedule: CallSchedule, lang: str) -> str:
    """A check-in call schedule in words: ``평일 10:00`` / ``weekdays 10:00``."""
    return "; ".join(
        f"{days_words(days, lang)} {', '.join(times)}" for days, times in schedule.parts()
    )


def call_status_name(status: str, lang: str) -> str:
    """What came of a scheduled call in plain words (``no_answer`` -> ``받지 않음``)."""
    return words("call_status", lang).get(status, status)


def pick_lang(query_lang: str | None, cookie_lang: str | None, accept: str | None) -> str:
    """The page language: ``?lang=``, then the cookie, then Accept-Language, then Korean."""
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGS:
            return candidate
    if accept and accept.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG
