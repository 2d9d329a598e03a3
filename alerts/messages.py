"""Words care-center staff read, in Korean and English: kinds, severities, states.

The words are in the one table of words, ``anbu/i18n.toml`` (``[alert_kind]``,
``[alert_severity]``, ``[alert_state]``); the inbox page, the e-mails and the web app's
household page all name an alert with them.
"""

from __future__ import annotations

from typing import Any, Literal

from alerts.model import Alert
from anbu.i18n import Section, word, words
from anbu.timeutil import in_seoul

Group = Literal["kind", "severity", "state"]
_SECTIONS: dict[Group, Section] = {
    "kind": "alert_kind", "severity": "alert_severity", "state": "alert_state",
}

GROUPS: tuple[Group, ...] = ("kind", "severity", "state")
"""What the staff read of an alert: its kind, severity and state (``[alert_*]`` sections)."""


def label(group: Group, key: str, lang: str) -> str:
    """The ``lang`` word for ``key`` in ``group`` (the key itself if unknown)."""
    found = word(_SECTIONS[group], key, lang)
    return key if found is None else found


def labels(lang: str) -> dict[str, dict[str, str]]:
    """Every group's words in ``lang``: ``{"kind": {"sos": "긴급 호출 (SOS)", ...}, ...}``."""
    return {group: words(_SECTIONS[group], lang) for group in GROUPS}


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
