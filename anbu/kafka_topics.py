"""Creating anbu's Kafka topics, and the shared client settings for Kafka.

kafka-python is used for producing and admin, and consumers that join a group use aiokafka
(or Faust, which is built on it): one group implementation for all, the one the detector
worker needs anyway. (kafka-python's group consumer also received nothing from Tansu, the
embedded broker before Apache Kafka.)
"""

from __future__ import annotations

import time
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from anbu.errors import AnbuError


class KafkaSetupError(AnbuError):
    """Topics could not be created."""


def topic_configs(settings: Any) -> dict[str, dict[str, str]]:
    """Return each of anbu's topics with its Kafka topic config."""
    topics = settings.kafka.topics
    return {
        topics.events: {},
        topics.sos: {},
        topics.deadletter: {"retention.ms": str(30 * 86400 * 1000)},
        topics.registry: {"cleanup.policy": "compact"},
        topics.alerts: {},
    }


def ensure_topics(settings: Any, timeout_s: float = 30.0) -> list[str]:
    """Create anbu's topics if they are missing; return the ones created.

    Raises:
        KafkaSetupError: Kafka did not answer within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.kafka.bootstrap_servers,
                client_id=f"{settings.kafka.client_id}-admin",
                request_timeout_ms=10_000,
            )
        except KafkaError as exc:
            last = exc
            time.sleep(0.5)
            continue
        try:
            existing = set(admin.list_topics())
            wanted = topic_configs(settings)
            new = [
                NewTopic(name, settings.kafka.topics.partitions, 1, topic_configs=config)
                for name, config in wanted.items()
                if name not in existing
            ]
            if new:
                try:
                    admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass
            _check_partitions(admin, settings, existing)
            return [t.name for t in new]
        finally:
            admin.close()
    raise KafkaSetupError(f"Kafka at {settings.kafka.bootstrap_servers} did not answer: {last}")


def _check_partitions(admin: KafkaAdminClient, settings: Any, existing: set[str]) -> None:
    """Refuse topics that exist with another partition count than the settings say.

    Households are spread over partitions by a hash of their id modulo the count, and the
    detector worker keeps one engine and one saved state per partition: if the topic has
    more or fewer partitions than ``kafka.topics.partitions``, a restarted worker would
    restore households into the wrong engine.
    """
    topics = settings.kafka.topics
    wanted = topics.partitions
    names = [t for t in (topics.events, topics.sos) if t in existing]
    if not names:
        return
    for meta in admin.describe_topics(names):
        count = len(meta.get("partitions") or [])
        name = meta.get("topic") or meta.get("name")  # the key differs between versions
        if count and count != wanted:
            raise KafkaSetupError(
                f"topic {name} has {count} partitions but kafka.topics.partitions "
                f"is {wanted}: set ANBU_KAFKA__TOPICS__PARTITIONS={count} (or recreate the topic)"
            )
