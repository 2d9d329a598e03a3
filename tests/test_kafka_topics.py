"""anbu's topics on the real Kafka-compatible broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from anbu.kafka_topics import KafkaSetupError, ensure_topics


def test_topics_with_another_partition_count_than_the_settings_are_refused(
    make_settings: Callable[..., Any],
) -> None:
    settings = make_settings({"kafka.topics.partitions": 3})
    assert settings.kafka.topics.events in ensure_topics(settings)
    assert ensure_topics(settings) == []  # created once; the same settings pass again
    events = settings.kafka.topics.events
    other = make_settings({"kafka.topics.partitions": 4, "kafka.topics.events": events,
                           "kafka.topics.sos": settings.kafka.topics.sos})
    with pytest.raises(KafkaSetupError, match=f"topic {events} has 3 partitions but "
                       "kafka.topics.partitions is 4: set ANBU_KAFKA__TOPICS__PARTITIONS=3"):
        ensure_topics(other)
