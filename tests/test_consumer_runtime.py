"""The supervised consumer runtime (:mod:`anbu.kafka_consumers`) on a real Kafka broker.

A handler that raises is restarted and counted, and the records after the one it failed on
are still handled; one that keeps failing gives up. ``anbu series`` whose broker is killed
under it restarts its consumer (failing commits show the lost broker), and exits with
:data:`EXIT_GAVE_UP` when the broker stays away; with the broker back in time it recovers
and counts again.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer

from anbu.influx import InfluxClient, InfluxError
from anbu.kafka_consumers import (
    EXIT_GAVE_UP,
    GROUP_TIMEOUTS,
    Committer,
    ConsumerGaveUp,
    RestartPolicy,
    failure_count,
    keep_running,
)
from config import Settings
from testkit.polling import wait_for
from testkit.publishing import publish_events
from testkit.services import RunningService, running, settings_for, start_kafka
from tests.kit.series import motion_events, start_series

FAST = RestartPolicy(first_delay_s=0.2, max_delay_s=0.5, give_up_after=3, healthy_after_s=30)
RECORDS = 10
POISON = 5


def _topic(
    make_settings: Callable[..., Settings], unique: Callable[[], str]
) -> tuple[Settings, str, str]:
    """Settings, a fresh topic holding records 0 to 9, and a consumer name of its own."""
    settings = make_settings()
    topic = f"runtime-{unique()}"
    _produce(settings, topic)
    return settings, topic, f"test consumer {topic}"


def _produce(settings: Settings, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for n in range(RECORDS):
        producer.send(topic, value=str(n).encode(), partition=0)
    producer.flush()
    producer.close()


async def _consume(
    settings: Settings, topic: str, what: str, poison_times: int | None
) -> tuple[list[int], BaseException | None]:
    """Handle the topic's records under keep_running; record ``POISON`` fails
    ``poison_times`` times (None: always). Returns the records handled and what ended it."""
    handled: list[int] = []
    left = [poison_times]

    async def session() -> None:
        async with AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka.bootstrap_servers,
            group_id=f"{topic}-group",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **GROUP_TIMEOUTS,
        ) as consumer:
            committer = Committer(what, FAST)
            while len(set(handled)) < RECORDS:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        n = int(record.value or b"-1")
                        if n == POISON and (left[0] is None or left[0] > 0):
                            if left[0] is not None:
                                left[0] -= 1
                            raise RuntimeError(f"handler failed on record {n}")
                        handled.append(n)
                        # one record at a time: a restart resumes at the one that failed
                        await committer.commit(consumer, {tp: record.offset + 1})
                        committer.check()

    try:
        await asyncio.wait_for(keep_running(session, what, FAST), 90)
    except ConsumerGaveUp as exc:
        return handled, exc
    return handled, None


@pytest.mark.parametrize("poison_times", [0, 2])
def test_a_failing_handler_is_restarted_and_counted(
    make_settings: Callable[..., Settings], unique: Callable[[], str], poison_times: int
) -> None:
    settings, topic, what = _topic(make_settings, unique)
    handled, ended = asyncio.run(_consume(settings, topic, what, poison_times))
    # every record handled, each once (commits after each record), before and after a failure
    assert handled == list(range(RECORDS))
    assert ended is None
    # poison_times 0 is the control: nothing failed, nothing counted
    assert failure_count(what) == poison_times


def test_a_handler_that_always_fails_gives_up(
    make_settings: Callable[..., Settings], unique: Callable[[], str]
) -> None:
    settings, topic, what = _topic(make_settings, unique)
    handled, ended = asyncio.run(_consume(settings, topic, what, None))
    assert isinstance(ended, ConsumerGaveUp)
    assert ended.failures == FAST.give_up_after == failure_count(what)
    assert handled == list(range(POISON))  # nothing after the record it cannot handle


# --- anbu series with its broker killed under it --------------------------------------


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[RunningService]:
    """A broker of this test's own, to kill and start again."""
    spec, log = start_kafka(tmp_path / "kafka")
    with running(spec, log, 120) as service:
        yield service


CONSUMERS = {
    "series.flush_interval": "500ms",
    "kafka.consumers.first_delay": "500ms",
    "kafka.consumers.max_delay": "1s",
    "kafka.consumers.commit_timeout": "2s",
    "kafka.consumers.commit_failures": "2",
}






def _counted(settings: Settings) -> int:
    try:
        rows = InfluxClient.from_settings(settings).query(
            "SELECT sum(\"count\") FROM activity_5m WHERE kind = 'motion' AND time > now() - 1d")
    except InfluxError:  # the writer has not created its database yet
        return 0
    return int(rows[0]["values"][0][1]) if rows else 0




@pytest.mark.parametrize("broker_back", [False, True], ids=["stays-down", "back-in-time"])
def test_series_writer_restarts_then_gives_up_when_its_broker_is_killed(
    tmp_path: Path, own_kafka: RunningService, influxdb: RunningService, broker_back: bool
) -> None:
    settings = settings_for(tmp_path / "var", None, own_kafka, influxdb)
    # the control (broker back) must not give up while the broker starts again
    give_up = 1000 if broker_back else 4
    log_path = tmp_path / "series.log"
    process = start_series(settings, {**CONSUMERS, "kafka.consumers.give_up_after": give_up},
                      log_path)
    try:
        publish_events(settings, motion_events("before", 40))
        wait_for(lambda: _counted(settings) == 40, 90,
                 step_s=0.5, what="the first 40 events counted")
        own_kafka.kill()
        wait_for(lambda: b"restarting in" in log_path.read_bytes(), 60,
                 step_s=0.5, what="the series consumer restarted after its commits failed")
        text = log_path.read_bytes().decode(errors="replace")
        assert "offset commit failed (2 in a row)" in text
        if not broker_back:
            wait_for(lambda: process.poll() is not None, 120, step_s=0.5, what="anbu series exited")
            text = log_path.read_bytes().decode(errors="replace")
            assert process.returncode == EXIT_GAVE_UP, text[-3000:]
            assert f"series events consumer failed {give_up} times in a row" in text
            return
        own_kafka.restart()
        publish_events(settings, motion_events("after", 40))
        wait_for(lambda: _counted(settings) == 80, 120,
                 step_s=0.5, what="the 40 events after the outage counted")
        assert process.poll() is None, "anbu series exited though its broker came back"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert _counted(settings) == 80  # nothing counted twice over the restarts
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # shown when the test fails (the client's own reconnection errors left out)
        lines = log_path.read_bytes().decode(errors="replace").splitlines()
        print("\n".join(line for line in lines if " aiokafka" not in line)[-6000:])
