"""Telemetry batched per Kafka partition: records carry several households, each household on
its own key's partition and in order, and older one-household records still read."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from anbu.events import DeviceEvent, EventBatch, EventKind, SourceFormat
from anbu.partitioning import partition_of
from anbu.registry_records import GatewayRecord
from config import Settings
from detectors.fastparse import fast_events
from ingest.bridge import Bridge
from testkit.publishing import mqtt_publisher, publish_registry
from tests.kit.ingest import bridge_settings

HOUSEHOLDS = 12
MESSAGES = 25  # per household


def _records(settings: Settings, want_events: int, timeout_s: float = 30
             ) -> list[tuple[int, int, bytes | None, EventBatch]]:
    """Every ``anbu.events`` record as (partition, offset, key, batch)."""
    topic = settings.kafka.topics.events
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in range(settings.kafka.topics.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    out: list[tuple[int, int, bytes | None, EventBatch]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while sum(len(b.events) for *_, b in out) < want_events and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=300).items():
                out += [(tp.partition, m.offset, m.key, EventBatch.from_json(m.value))
                        for m in messages]
    finally:
        consumer.close()
    return out


def test_records_carry_several_households_each_on_its_partition_in_order(
    make_settings: Callable[..., Settings], unique: Any
) -> None:
    u = unique()
    settings = bridge_settings(make_settings, u, {"ingest.batch_linger": "300ms"})
    gateways = {f"gw-{u}-{i}": f"hh-{u}-{i}" for i in range(HOUSEHOLDS)}
    publish_registry(settings, [GatewayRecord(gateway_id=gw, household_id=hh, mqtt_username=gw)
                                for gw, hh in gateways.items()])
    bridge = Bridge(settings, client_id=f"batch-{u}", serve_metrics=False, write_influx=False)
    bridge.start(registry_timeout_s=30)
    try:
        assert bridge.subscribed.wait(15)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        with mqtt_publisher(settings) as client:
            last = None
            for seq in range(MESSAGES):  # households interleaved, as a real load arrives
                for gw in gateways:
                    moment = (start + timedelta(seconds=seq)).isoformat()
                    payload = json.dumps({"type": "heartbeat", "seq": seq, "ts": moment})
                    last = client.publish(f"anbu/{gw}/hb", payload, qos=1)
            assert last is not None
            last.wait_for_publish(10)
        records = _records(settings, HOUSEHOLDS * MESSAGES)
    finally:
        bridge.stop()

    events = [e for *_, b in records for e in b.events]
    assert len(events) == HOUSEHOLDS * MESSAGES
    assert len({e.idempotency_key for e in events}) == len(events)  # each exactly once
    partitions = settings.kafka.topics.partitions
    assert max(len(b.households()) for *_, b in records) > 1  # mixed households per record
    assert len(records) < HOUSEHOLDS * MESSAGES / 5
    for partition, _offset, key, batch in records:
        for e in batch.events:
            # the partition the household's key gives, as the worker's engines expect
            assert partition == partition_of(e.household_id, partitions)
        if batch.household_id is not None:
            assert key == batch.household_id.encode()
    for hh in gateways.values():
        mine = [e.event_time for _p, _o, _k, b in sorted(records, key=lambda r: r[:2])
                for e in b.events if e.household_id == hh]
        assert mine == sorted(mine) and len(mine) == MESSAGES  # in the order they were sent
    assert bridge.metrics.acked == HOUSEHOLDS * MESSAGES  # every message acked after Kafka


def _event(hh: str, i: int) -> DeviceEvent:
    moment = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(seconds=i)
    return DeviceEvent(household_id=hh, device_id=f"d-{hh}", kind=EventKind.MOTION, value=1,
                       event_time=moment, receive_time=moment, source_format=SourceFormat.ANBU,
                       idempotency_key=f"{hh}-{i}")


def test_mixed_and_older_one_household_batches_both_read() -> None:
    old = b'{"schema_version":1,"type":"batch","household_id":"hh-1","events":[' + \
        _event("hh-1", 0).to_json() + b"]}"
    assert EventBatch.from_json(old).households() == ["hh-1"]
    mixed = EventBatch(events=[_event("hh-1", 1), _event("hh-2", 2), _event("hh-1", 3)])
    data = mixed.to_json()
    assert b"household_id\":\"hh-1\",\"device" in data and data.count(b"household_id") == 3
    again = EventBatch.from_json(data)
    assert again.households() == ["hh-1", "hh-2"]
    assert Counter(e.household_id for e in again.events) == {"hh-1": 2, "hh-2": 1}
    fast = fast_events(data)
    assert fast is not None and [f[1] for f in fast] == ["hh-1", "hh-2", "hh-1"]
    with pytest.raises(ValidationError, match="household"):
        EventBatch(household_id="hh-1", events=[_event("hh-2", 1)])
