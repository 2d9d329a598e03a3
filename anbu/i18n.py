"""Korean and English words of anbu: one table, ``anbu/i18n.toml``.

The web pages (``web/i18n.py`` adds their helpers), the alerts inbox and the notifications
read the same table, so a word is written once and a sensor or an alert state is called
the same everywhere. The table lives in the kernel because the alerts service sits below
the web app: both may read it here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"

Section = Literal[
    "dashboards", "install", "household", "device_kind", "room", "source_format", "event_kind",
    "call_days", "call_status", "review", "inbox", "alert_kind", "alert_severity", "alert_state",
]

_TABLE: dict[str, dict[str, Any]] = tomllib.loads(
    (Path(__file__).resolve().parent / "i18n.toml").read_text(encoding="utf-8")
)
ROOM_CODES: dict[str, str] = _TABLE.pop("room_code")
"""A demo home's room codes (``living``) -> the stored Korean room they stand for."""

# The pages that share the [common] section's words (their own words win).
_WITH_COMMON = ("dashboards", "install", "household", "inbox")


def words(section: Section, lang: str) -> dict[str, str]:
    """Every word of ``section`` in ``lang`` (pages also get ``[common]``; theirs win)."""
    index = 0 if lang == "ko" else 1
    shared = _TABLE["common"] if section in _WITH_COMMON else {}
    return {key: pair[index] for key, pair in {**shared, **_TABLE[section]}.items()}


def word(section: Section, key: str, lang: str) -> str | None:
    """One word of ``section`` in ``lang`` (as in :func:`words`), or None if it has none."""
    pair = _TABLE[section].get(key)
    if pair is None and section in _WITH_COMMON:
        pair = _TABLE["common"].get(key)
    return None if pair is None else str(pair[0 if lang == "ko" else 1])


def both(section: Section) -> dict[str, dict[str, str]]:
    """Every word of ``section`` in every language, for a script that switches in the page."""
    return {lang: words(section, lang) for lang in LANGS}
