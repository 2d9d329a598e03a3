"""The embedded Apache Kafka keeps everything across a crash (SIGKILL, alone and under
``anbu up``) and across Ctrl-C of ``anbu up``: records, the compacted registry topic and its
config, consumer group offsets.

Each test runs a broker of its own (the session's broker is shared and must not be killed).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.structs import OffsetAndMetadata

from anbu.kafka_topics import ensure_topics
from anbu.stack.apache_kafka import READY_TIMEOUT_S, apache_kafka_spec
from anbu.stack.services import free_port
from config import Settings, load_settings
from testkit.kafka_tail import KafkaTail
from testkit.services import RunningService, running
from tests.kit.up import ctrl_c, start_up, up_env, wait_all_running, wait_kafka, wait_restarted

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EVENTS = 3000
GROUP = "durability-group"
COMMITTED = 500  # on partition 0 only: a position the group had reached


def _produce(settings: Settings) -> None:
    """Write events and registry records (with overwrites and a tombstone); return what counts."""
    topics = settings.kafka.topics
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", enable_idempotence=True
    )
    try:
        for i in range(EVENTS):
            producer.send(topics.events, key=f"hh-{i % 7}".encode(), value=f"event-{i}".encode())
        for version in range(3):  # three versions of each key: compaction may keep the last
            for n in range(20):
                key, value = f"device:d{n}".encode(), f"v{version}".encode()
                producer.send(topics.registry, key=key, value=value)
        producer.send(topics.registry, key=b"device:d0", value=None)
        producer.flush(60)
    finally:
        producer.close()


def _commit(settings: Settings) -> None:
    """Commit a group position on partition 0 of the events topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=GROUP,
        enable_auto_commit=False,
    )
    try:
        tp = TopicPartition(settings.kafka.topics.events, 0)
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(COMMITTED, "", -1)})
    finally:
        consumer.close()


def _committed(settings: Settings) -> int | None:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=GROUP,
        enable_auto_commit=False,
    )
    try:
        return consumer.committed(TopicPartition(settings.kafka.topics.events, 0))
    finally:
        consumer.close()


def _registry_view(settings: Settings) -> dict[bytes, bytes | None]:
    """The registry as a reader rebuilds it: the last value per key (None: tombstone)."""
    tail = KafkaTail(settings, settings.kafka.topics.registry)
    try:
        records = tail.wait_for(lambda got: any(k == b"device:d0" and v is None for k, v in got))
    finally:
        tail.close()
    return {key: value for key, value in records if key is not None}


def _cleanup_policy(settings: Settings) -> str:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, settings.kafka.topics.registry)
        result = admin.describe_configs([resource], config_filter="all")
    finally:
        admin.close()
    return _find_value(result, "cleanup.policy")


def _find_value(tree: Any, name: str) -> str:
    """The value of config ``name`` in describe_configs' nested answer."""
    if isinstance(tree, dict):
        if name in tree:
            entry = tree[name]
            return str(entry.get("value") if isinstance(entry, dict) else entry)
        for child in tree.values():
            found = _find_value(child, name)
            if found:
                return found
    return ""


def _events(settings: Settings, expect: int) -> list[bytes]:
    tail = KafkaTail(settings, settings.kafka.topics.events)
    try:
        records = tail.wait_for(lambda got: len(got) >= expect, timeout_s=60)
    finally:
        tail.close()
    return sorted(value for _key, value in records)


def _expected_registry() -> dict[bytes, bytes | None]:
    view: dict[bytes, bytes | None] = {f"device:d{n}".encode(): b"v2" for n in range(20)}
    view[b"device:d0"] = None
    return view


def _check_everything_there(settings: Settings) -> None:
    events = _events(settings, EVENTS)
    assert events == sorted(f"event-{i}".encode() for i in range(EVENTS))
    assert _registry_view(settings) == _expected_registry()
    assert _cleanup_policy(settings) == "compact"
    assert _committed(settings) == COMMITTED


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[RunningService]:
    spec = apache_kafka_spec(tmp_path / "kafka", free_port(), free_port())
    with running(spec, tmp_path / "kafka.log", READY_TIMEOUT_S) as service:
        yield service


def test_everything_survives_a_sigkill_of_the_broker(
    tmp_path: Path, own_broker: RunningService
) -> None:
    settings = load_settings(
        None,
        {
            "stack.data_dir": str(tmp_path / "var"),
            "kafka.bootstrap_servers": f"127.0.0.1:{own_broker.port}",
        },
    )
    assert ensure_topics(settings)  # new topics: this is a fresh broker
    _produce(settings)
    _commit(settings)
    _check_everything_there(settings)  # the control: all there before the crash
    meta = (tmp_path / "kafka" / "data" / "meta.properties").read_text()

    old_pid = own_broker.process.pid
    own_broker.kill()
    assert own_broker.process.returncode == -signal.SIGKILL
    own_broker.restart()
    assert own_broker.process.pid != old_pid

    # The same cluster on the same data (not a new, empty one formatted over it).
    assert (tmp_path / "kafka" / "data" / "meta.properties").read_text() == meta
    assert ensure_topics(settings) == []  # nothing needed creating again
    _check_everything_there(settings)
    # And it takes new writes after the crash, after the old ones.
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    producer.send(settings.kafka.topics.events, key=b"hh-0", value=b"after").get(30)
    producer.close()
    assert b"after" in _events(settings, EVENTS + 1)


def test_everything_survives_ctrl_c_of_anbu_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = up_env(data_dir)
    settings = load_settings(
        None,
        {
            "stack.data_dir": str(data_dir),
            "kafka.bootstrap_servers": env["ANBU_KAFKA__BOOTSTRAP_SERVERS"],
        },
    )
    log = tmp_path / "up.log"
    up = start_up(env, tmp_path, log)
    try:
        rows = wait_all_running(env, 240).rows
        assert ensure_topics(settings) == []  # `anbu up` made them
        _produce(settings)
        _commit(settings)
        _check_everything_there(settings)
        # A crash of the broker under `anbu up`: supervisord starts it again, on the same data.
        os.kill(rows["kafka"][1], signal.SIGKILL)
        kafka_pid = wait_restarted(env, "kafka", rows["kafka"][1])
        wait_kafka(settings)
        _check_everything_there(settings)
    finally:
        code = ctrl_c(up)
    assert code == 0, log.read_text()[-3000:]
    with pytest.raises(ProcessLookupError):  # the broker was stopped, not left running
        os.kill(kafka_pid, 0)

    up = start_up(env, tmp_path, log)
    try:
        rows = wait_all_running(env, 240).rows
        assert rows["kafka"][1] != kafka_pid
        wait_kafka(settings)
        _check_everything_there(settings)
    finally:
        code = ctrl_c(up)
    assert code == 0, log.read_text()[-3000:]
    assert (data_dir / "kafka" / "data" / "meta.properties").exists()
