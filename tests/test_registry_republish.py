"""The registry after a broker lost it: the web process sees the loss and publishes again,
on a new producer (the old one may be left in kafka-python's fatal state by the restart)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anbu.registry_records import GatewayRecord, HouseholdRecord, RegistryRecord
from anbu.stack.apache_kafka import private_broker
from devices.publisher import close_producers, publish, registry_lost
from testkit.kafka_tail import KafkaTail
from testkit.services import RunningService, running, settings_for


@pytest.fixture
def memory_kafka(tmp_path: Path) -> Iterator[RunningService]:
    """Tansu with memory storage: a restart loses every topic, as in the incident."""
    spec = private_broker(tmp_path, kind="tansu")
    with running(spec, tmp_path / "tansu.log") as service:
        yield service


def test_a_lost_registry_is_seen_and_published_again(
    tmp_path: Path, memory_kafka: RunningService
) -> None:
    settings = settings_for(tmp_path / "var", None, memory_kafka, None)
    records: list[RegistryRecord] = [
        HouseholdRecord(household_id="hh-lost", care_center_id="cc-1", dong="Seogyo"),
        GatewayRecord(gateway_id="gw-lost", household_id="hh-lost", mqtt_username="gw-lost"),
    ]
    try:
        assert publish(settings, records) == 2
        assert registry_lost(settings) is False  # the ends seen now are the baseline
        assert publish(settings, records[:1]) == 1
        assert registry_lost(settings) is False  # more records: nothing lost

        memory_kafka.restart()
        assert registry_lost(settings) is True  # gone with the broker's memory
        assert registry_lost(settings) is False  # said once

        # The producer of before the restart may never send again: the publish that fails
        # drops it, and the next one (the snapshot loop retries every second) gets a new one.
        deadline = time.monotonic() + 90
        while True:
            try:
                assert publish(settings, records) == 2
                break
            except Exception:
                assert time.monotonic() < deadline, "the registry was never published again"
                time.sleep(1)
    finally:
        close_producers()
    tail = KafkaTail(settings, settings.kafka.topics.registry)
    try:
        found = tail.wait_for(lambda rs: len(rs) >= 2, 30)
        assert {key for key, _v in found} == {b"household:hh-lost", b"gateway:gw-lost"}
    finally:
        tail.close()
