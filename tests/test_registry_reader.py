"""The registry reader against a real Kafka broker: snapshot, loaded signal, changes, failures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from anbu.kafka_topics import ensure_topics
from anbu.registry_reader import RegistryChange, RegistryReader
from anbu.registry_records import DeviceRecord, HouseholdRecord, RegistryRecord
from config import Settings
from ingest.registry_cache import RegistryCache
from ingest.registry_follower import RegistryFollower
from testkit.publishing import publish_registry
from testkit.services import KAFKA_READY_S, RunningService, running, settings_for, start_kafka

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def kafka_settings(tmp_path: Path, kafka: RunningService) -> Settings:
    """Settings for the session's Kafka only, with topics of this test's own."""
    return settings_for(tmp_path / "var", None, kafka, None)


def household(hid: str) -> HouseholdRecord:
    return HouseholdRecord(household_id=hid, care_center_id="cc-1", dong="dong-1")


def device(did: str, hid: str = "hh-1") -> DeviceRecord:
    return DeviceRecord(
        device_id=did,
        household_id=hid,
        kind="motion",
        source_format="zigbee2mqtt",  # type: ignore[arg-type]
        mqtt_topic=f"zigbee2mqtt/{did}",
    )


def send_raw(settings: Settings, key: bytes, value: bytes | None) -> None:
    """Put a record on the registry topic as-is (a tombstone when ``value`` is None)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    try:
        producer.send(settings.kafka.topics.registry, key=key, value=value)
        producer.flush(30)
    finally:
        producer.close()


class View:
    """What a caller keeps: live entities by key; retired ones and tombstones remove them."""

    def __init__(self) -> None:
        self.live: dict[str, RegistryRecord] = {}
        self.changes: list[RegistryChange] = []

    def apply(self, change: RegistryChange) -> None:
        self.changes.append(change)
        if change.record is None or change.record.retired:
            self.live.pop(change.key, None)
        else:
            self.live[change.key] = change.record


async def until(check: Callable[[], bool], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def with_reader(
    settings: Settings,
    apply: Callable[[RegistryChange], None],
    scenario: Callable[[RegistryReader], Awaitable[None]],
) -> RegistryReader:
    """Run ``scenario`` while a reader follows the topic; then stop it, as callers do."""

    async def main() -> RegistryReader:
        reader = RegistryReader(settings, apply, client_id="test-registry-reader")
        task = asyncio.create_task(reader.run())
        try:
            await scenario(reader)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)  # a clean stop is quick
        assert task.cancelled()
        return reader

    return asyncio.run(main())


def test_loads_the_snapshot_then_follows_changes(kafka_settings: Settings) -> None:
    publish_registry(kafka_settings, [household("hh-1"), device("dev-1"), device("dev-2")])
    send_raw(kafka_settings, b"device:broken", b'{"type": "device", "device_id": 7}')
    view = View()

    async def scenario(reader: RegistryReader) -> None:
        assert await reader.wait_loaded(20), "the snapshot never finished loading"
        # Loaded means applied: everything that was on the topic is in the view already.
        assert set(view.live) == {"household:hh-1", "device:dev-1", "device:dev-2"}
        assert reader.bad_records == 1
        publish_registry(kafka_settings, [device("dev-3")])
        publish_registry(kafka_settings, [device("dev-1").model_copy(update={"retired": True})])
        send_raw(kafka_settings, b"device:dev-2", None)
        assert await until(lambda: set(view.live) == {"household:hh-1", "device:dev-3"}), set(
            view.live
        )

    reader = with_reader(kafka_settings, view.apply, scenario)
    assert reader.records == 7
    # Order holds per partition, that is per key.
    dev1 = [change.record for change in view.changes if change.key == "device:dev-1"]
    assert [record is not None and record.retired for record in dev1] == [False, True]
    dev2 = [change.record for change in view.changes if change.key == "device:dev-2"]
    assert dev2 == [device("dev-2"), None]


def test_an_empty_topic_is_loaded_at_once(kafka_settings: Settings) -> None:
    ensure_topics(kafka_settings)
    view = View()

    async def scenario(reader: RegistryReader) -> None:
        assert await reader.wait_loaded(15)
        assert reader.records == 0

    with_reader(kafka_settings, view.apply, scenario)


def test_waits_for_the_topic_to_exist(kafka_settings: Settings) -> None:
    view = View()

    async def scenario(reader: RegistryReader) -> None:
        assert not await reader.wait_loaded(2), "loaded before the topic existed"
        await asyncio.to_thread(publish_registry, kafka_settings, [household("hh-late")])
        assert await reader.wait_loaded(20)
        assert await until(lambda: "household:hh-late" in view.live)

    with_reader(kafka_settings, view.apply, scenario)


def test_starts_before_kafka_is_reachable(tmp_path: Path) -> None:
    spec, log_path = start_kafka(tmp_path / "late-kafka")
    settings = settings_for(
        tmp_path / "var", None, None, None, {"kafka.bootstrap_servers": f"127.0.0.1:{spec.port}"}
    )
    view = View()

    async def scenario(reader: RegistryReader) -> None:
        assert not await reader.wait_loaded(3)
        with running(spec, log_path, KAFKA_READY_S):
            await asyncio.to_thread(publish_registry, settings, [device("dev-late")])
            assert await reader.wait_loaded(60), "never loaded once Kafka was up"
            assert await until(lambda: "device:dev-late" in view.live)

    with_reader(settings, view.apply, scenario)


def test_a_record_the_caller_fails_on_is_skipped(kafka_settings: Settings) -> None:
    publish_registry(kafka_settings, [device("dev-bad"), device("dev-good")])
    view = View()

    def apply(change: RegistryChange) -> None:
        if change.key == "device:dev-bad":
            raise RuntimeError("caller bug")
        view.apply(change)

    async def scenario(reader: RegistryReader) -> None:
        assert await reader.wait_loaded(20)
        assert set(view.live) == {"device:dev-good"}
        assert reader.bad_records == 1

    with_reader(kafka_settings, apply, scenario)


@pytest.fixture
def follower(kafka_settings: Settings) -> Iterator[RegistryFollower]:
    follower = RegistryFollower(kafka_settings, RegistryCache())
    yield follower
    follower.stop()


def test_the_thread_follower_feeds_the_bridge_cache_and_stops(
    kafka_settings: Settings, follower: RegistryFollower
) -> None:
    dev = device("dev-t")
    publish_registry(kafka_settings, [household("hh-1"), dev])
    follower.start()
    assert follower.wait_loaded(20)
    assert follower.cache.owner_of("zigbee2mqtt/dev-t") is not None
    assert "hh-1" in follower.cache.households
    publish_registry(kafka_settings, [dev.model_copy(update={"retired": True})])
    deadline = time.monotonic() + 20
    while follower.cache.owner_of("zigbee2mqtt/dev-t") is not None:
        assert time.monotonic() < deadline, "the retired device is still routed"
        time.sleep(0.05)
    follower.stop()
    follower.join(10)
    assert not follower.is_alive()
