"""What the bridge tests share: settings for a bridge of the test's own, its topics made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anbu.kafka_topics import ensure_topics
from config import Settings


def bridge_settings(
    make_settings: Callable[..., Settings], u: str, overrides: dict[str, Any] | None = None
) -> Settings:
    """Settings whose bridges share an MQTT group of their own (``g<u>``), the Kafka topics
    made before anything is sent (a topic made on the first send may lack a leader).

    Args:
        make_settings: the fixture of that name.
        u: the test's unique suffix.
        overrides: more dotted settings.
    """
    settings: Settings = make_settings({"mqtt.shared_group": f"g{u}", **(overrides or {})})
    ensure_topics(settings)
    return settings
