"""The embedded Apache Kafka keeps everything across a crash (SIGKILL): records, the
compacted registry topic and its config, consumer group offsets.

The test runs a broker of its own (the session's broker is shared and must not be killed).
The same checks under ``anbu up`` (a SIGKILL restarted by supervisord, and Ctrl-C then ``anbu
up`` again) are in ``tests/test_stack_up.py``, on the stack that test starts anyway.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from anbu.kafka_topics import ensure_topics
from anbu.stack.apache_kafka import READY_TIMEOUT_S, apache_kafka_spec
from anbu.stack.services import free_port
from config import load_settings
from testkit.services import RunningService, running
from tests.kit.durable import (
    EVENTS,
    check_everything_there,
    commit_durable,
    durable_events,
    produce_durable,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


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
    produce_durable(settings)
    commit_durable(settings)
    check_everything_there(settings)  # the control: all there before the crash
    meta = (tmp_path / "kafka" / "data" / "meta.properties").read_text()

    old_pid = own_broker.process.pid
    own_broker.kill()
    assert own_broker.process.returncode == -signal.SIGKILL
    own_broker.restart()
    assert own_broker.process.pid != old_pid

    # The same cluster on the same data (not a new, empty one formatted over it).
    assert (tmp_path / "kafka" / "data" / "meta.properties").read_text() == meta
    assert ensure_topics(settings) == []  # nothing needed creating again
    check_everything_there(settings)
    # And it takes new writes after the crash, after the old ones.
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    producer.send(settings.kafka.topics.events, key=b"hh-0", value=b"after").get(30)
    producer.close()
    assert b"after" in durable_events(settings, EVENTS + 1)
