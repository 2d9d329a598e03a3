"""Small validated types shared by the settings sections, and the sections' base."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic_settings import NoDecode


class Section(BaseModel):
    """The base of every settings section: frozen, and no key it does not know.

    A setting's description is the docstring under it (pydantic's attribute docstrings),
    folded to one line as if it were written on one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Fold the line breaks of multi-line docstrings out of the descriptions."""
        super().__pydantic_init_subclass__(**kwargs)
        wrapped = [f for f in cls.model_fields.values() if f.description and "\n" in f.description]
        for field in wrapped:
            field.description = " ".join((field.description or "").split())
        if wrapped:
            cls.model_rebuild(force=True)  # the JSON schema is built from the descriptions


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> timedelta:
    """Parse ``90``, ``"90s"``, ``"15m"``, ``"24h"``, ``"2d"`` or a timedelta.

    Args:
        value: a number of seconds, a string with a unit, or a ``timedelta``.

    Returns:
        The duration.

    Raises:
        ValueError: the value is not a non-negative duration.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '15m', '24h'")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; use e.g. '90s', '15m', '24h', '2d'")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError("a duration is a number of seconds or text like '15m', '24h'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda td: f"{td.total_seconds():g}s", return_type=str),
]
"""A duration setting, written in TOML or env as ``"15m"``, ``"24h"`` or seconds."""


def parse_port(value: Any) -> int:
    """Check a TCP port number (1-65535)."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"port {value!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is outside 1-65535")
    return port


Port = Annotated[int, BeforeValidator(parse_port)]
"""A TCP port, 1 to 65535."""


def parse_host_port(value: Any) -> str:
    """Check ``host:port`` and return it unchanged.

    Raises:
        ValueError: no colon, an empty host, or a bad port.
    """
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(f"{value!r} is not host:port")
    host, _, port = value.rpartition(":")
    if not host or not re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+", host):
        raise ValueError(f"{value!r} has no valid host")
    parse_port(port)
    return value


def _split_servers(value: Any) -> Any:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        if not value:
            raise ValueError("at least one host:port is needed")
        return [parse_host_port(item) for item in value]
    raise ValueError("expected host:port or a comma-separated list of them")


HostPortList = Annotated[list[str], NoDecode, BeforeValidator(_split_servers)]
"""One or more ``host:port``, from a list or a comma-separated string."""


def check_topic_filter(value: str) -> str:
    """Check an MQTT topic filter's wildcards (``+`` whole level, ``#`` last level only).

    Raises:
        ValueError: the filter is empty or misuses a wildcard.
    """
    if not value:
        raise ValueError("an MQTT topic filter cannot be empty")
    levels = value.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"{value!r}: '#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise ValueError(f"{value!r}: '+' must be a whole level")
    return value


TopicFilter = Annotated[str, BeforeValidator(check_topic_filter)]
"""An MQTT topic filter with valid wildcards."""


def check_http_url(value: Any) -> str:
    """Check an ``http://`` or ``https://`` URL with a host.

    Raises:
        ValueError: another scheme, no host, or a bad port.
    """
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ValueError("expected a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has a bad port") from None
    return value.rstrip("/")


HttpUrl = Annotated[str, BeforeValidator(check_http_url)]
"""An http(s) URL, kept as text without a trailing slash."""
