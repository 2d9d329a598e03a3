"""Records a consumer passed over are read again, not lost (detectors/rewind.py), on real Kafka.

Faust 0.15 can drop fetched records when a rebalance begins mid-fetch, and its next fetch
starts past them. Here an aiokafka consumer is made to skip the same way (its position is
moved past records it has not handed over). The worker's guard and the rewinder set aside
what comes after the gap, so the partition's progress stays before it; the rebalance then
seeks the partition to the first record not processed (as ``seek_unread`` does), and every
record is processed once and in order. Controls: records Kafka no longer holds (deleted, as
retention would) are reported lost and the rest processed; a gap that no rebalance heals is
reported as stuck (the worker then exits non-zero), and one that was healed is not.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
    offset at the same moment (retention). Once the rewinder has set records aside, the
    "rebalance" that follows a drop seeks the partition to the guard's next offset.
    """
    servers = settings.kafka.bootstrap_servers
    tp = TopicPartition(topic, 0)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                                auto_offset_reset="earliest")
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

        guard = OffsetGuard()
        rewinder = Rewinder(earliest)
        done: list[int] = []
        jumped = False
        async with asyncio.timeout(60):
            while not done or done[-1] < RECORDS - 1:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5)
                set_aside = False
                for record in batch.get(tp, []):
                    verdict = guard.check(KEY, record.offset)
                    if verdict is Verdict.SKIP:
                        continue
                    if verdict is Verdict.GAP and await rewinder.on_gap(
                            tp, guard.expected(KEY), record.offset):
                        set_aside = True
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
                if set_aside:  # the rebalance after the drop: seek_unread's seek
                    rewinder.rebalanced()
                    consumer.seek(tp, guard.expected(KEY))
    finally:
        await consumer.stop()
        await admin.close()
    return done, rewinder


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_records_passed_over_are_read_again_once_and_in_order(
    settings: Settings, unique: Callable[[], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="detectors.rewind")
    done, rewinder = asyncio.run(_process(settings, f"anbu.rewind.{unique()}", jump=(9, 17)))
    assert done == list(range(RECORDS))
    assert rewinder.set_aside >= 1 and rewinder.lost == 0
    assert "from offset 10 to 16 were passed over by the consumer" in caplog.text
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


def test_a_gap_no_rebalance_heals_is_stuck_and_a_healed_one_is_not() -> None:
    tp = TopicPartition("anbu.events.x", 3)

    async def held(_: TopicPartition) -> int | None:
        return 0  # Kafka still holds everything

    rewinder = Rewinder(held, stuck_after_s=0.2)
    assert asyncio.run(rewinder.on_gap(tp, 10, 17)) is True  # set aside
    expected = {tp: 10}
    assert rewinder.stuck(expected.__getitem__) == []  # not yet
    time.sleep(0.25)
    assert rewinder.stuck(expected.__getitem__) == [tp]  # nothing read it again
    expected[tp] = 18  # the control: the missing records were read again meanwhile
    assert rewinder.stuck(expected.__getitem__) == []
    assert asyncio.run(rewinder.on_gap(tp, 18, 25)) is True
    rewinder.rebalanced()  # the rebalance sought the partition back
    time.sleep(0.25)
    assert rewinder.stuck(expected.__getitem__) == []
