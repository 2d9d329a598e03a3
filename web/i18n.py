"""Korean and English words of every web page: one table, ``web/i18n.toml``.

The dashboards, the accounts pages, the installer app and the household page each read the
table's ``[common]`` section and their own; device kinds, rooms, protocols and activity
kinds are shared, so a sensor is called the same on every page. Korean is the default (the
care workers' and installers' language); the choice follows ``?lang=``, then the language
cookie every page sets, then the browser's Accept-Language.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from anbu.registry_records import DeviceKindName

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"
LANG_COOKIE = "anbu_lang"

Section = Literal[
    "dashboards", "install", "household", "device_kind", "room", "source_format", "event_kind"
]

_TABLE: dict[str, dict[str, Any]] = tomllib.loads(
    (Path(__file__).resolve().parent / "i18n.toml").read_text(encoding="utf-8")
)
_ROOM_CODES: dict[str, str] = _TABLE.pop("room_code")

KINDS: tuple[str, ...] = get_args(DeviceKindName)
"""The registry's device kinds, in the order the installer app offers them."""


def words(section: Section, lang: str) -> dict[str, str]:
    """Every word of ``section`` in ``lang`` (pages also get ``[common]``; theirs win)."""
    index = 0 if lang == "ko" else 1
    shared = _TABLE["common"] if section in ("dashboards", "install", "household") else {}
    return {key: pair[index] for key, pair in {**shared, **_TABLE[section]}.items()}


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
    return {**rooms, **{code: rooms[room] for code, room in _ROOM_CODES.items()}}


def room_name(room: str | None, lang: str) -> str:
    """A stored room in ``lang`` (as stored if unknown: the installer typed it); ``""`` if unset."""
    if not room:
        return ""
    return room_names(lang).get(room, room)


def pick_lang(query_lang: str | None, cookie_lang: str | None, accept: str | None) -> str:
    """The page language: ``?lang=``, then the cookie, then Accept-Language, then Korean."""
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGS:
            return candidate
    if accept and accept.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG
