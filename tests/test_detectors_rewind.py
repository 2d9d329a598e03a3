"""Records a consumer skipped are read again, not lost (detectors/rewind.py), on real Kafka.

Faust 0.15 can drop fetched records when a rebalance begins mid-fetch, and its next fetch
starts past them. Here an aiokafka consumer is made to skip the same way (its position is
moved past records it has not handed over); the worker's guard and the rewinder then must
process every record once and in order. The control: records Kafka no longer holds (deleted
as retention would) are reported as lost, with an error, and processing goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.records_to_delete import RecordsToDelete

from config import Settings
from detectors.offsets import OffsetGuard, Verdict
from detectors.rewind import Rewinder

RECORDS = 30
KEY = b"partition"


async def _process(settings: Settings, topic: str, jump: tuple[int, int],
                   delete_before: int | None = None) -> tuple[list[int], Rewinder]:
    """Consume ``topic`` through the guard and the rewinder, as the worker does.

    After the record at ``jump[0]`` the consumer's position moves to ``jump[1]``, as Faust's
    dropped fetch leaves it; with ``delete_before``, Kafka deletes the records before that
    offset at the same moment (retention).
    """
    servers = settings.kafka.bootstrap_servers
    tp = TopicPartition(topic, 0)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
        await producer.start()
        try:
            for n in range(RECORDS):
                await producer.send_and_wait(topic, str(n).encode(), partition=0)
        finally:
            await producer.stop()

        await consumer.start()
        consumer.assign([tp])
        consumer.seek(tp, 0)

        async def earliest(part: TopicPartition) -> int | None:
            return (await consumer.beginning_offsets([part])).get(part)

        async def seek(part: TopicPartition, offset: int) -> None:
            consumer.seek(part, offset)

        guard = OffsetGuard()
        rewinder = Rewinder(earliest, seek, quiet_s=0.5)
        done: list[int] = []
        jumped = False
        async with asyncio.timeout(60):
            while not done or done[-1] < RECORDS - 1:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5)
                for record in batch.get(tp, []):
                    verdict = guard.check(KEY, record.offset)
                    if verdict is Verdict.SKIP:
                        continue
                    if verdict is Verdict.GAP and await rewinder.on_gap(
                            tp, guard.expected(KEY), record.offset):
                        continue
                    done.append(int(record.value or b"-1"))
                    guard.done(KEY, record.offset)
                    if record.offset == jump[0] and not jumped:
                        jumped = True
                        if delete_before is not None:
                            await admin.delete_records(
                                {tp: RecordsToDelete(before_offset=delete_before)})
                        consumer.seek(tp, jump[1])  # what a dropped fetch leaves behind
                        break
    finally:
        await consumer.stop()
        await admin.close()
    return done, rewinder


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_records_skipped_by_the_consumer_are_read_again_once_and_in_order(
    settings: Settings, unique: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="detectors.rewind")
    done, rewinder = asyncio.run(_process(settings, f"anbu.rewind.{unique()}", jump=(9, 17)))
    assert done == list(range(RECORDS))
    assert rewinder.rewinds >= 1 and rewinder.lost == 0
    assert "from offset 10 to 16 were skipped by the consumer" in caplog.text
    assert _errors(caplog) == []


def test_records_kafka_no_longer_holds_are_reported_lost_and_the_rest_processed(
    settings: Settings, unique: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="detectors.rewind")
    topic = f"anbu.rewind.{unique()}"
    # 0..9 read; the position jumps to 20 while 10..14 are deleted: 15..19 are still held
    # and must be read again; 10..14 are reported lost, once
    done, rewinder = asyncio.run(_process(settings, topic, jump=(9, 20), delete_before=15))
    assert done == [*range(10), *range(15, RECORDS)]
    assert rewinder.lost == 5
    assert _errors(caplog) == [f"records {topic}:0 from offset 10 to 14 were never processed "
                               "and Kafka no longer holds them (retention)"]
