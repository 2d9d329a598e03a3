"""The bridge's Kafka sink after a broker restart: a kafka-python idempotent producer that
hit a fatal error (Tansu after a restart: ``InitProducerId`` -> ``UnknownError``) aborts every
batch for ever; the sink replaces it and sends again what was not confirmed. Run on Tansu,
which reproduces the fatal error, and on Apache Kafka, the embedded broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anbu.kafka_topics import ensure_topics
from anbu.stack.apache_kafka import READY_TIMEOUT_S, private_broker
from config import Settings
from ingest.kafka_sink import Delivery, KafkaSink
from testkit.kafka_tail import KafkaTail
from testkit.services import RunningService, running, settings_for


@pytest.fixture(params=["tansu", "apache"])
def own_kafka(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningService]:
    """A broker of this test alone: restarting it must not disturb the session's."""
    directory = tmp_path / "broker"
    directory.mkdir()
    spec = private_broker(directory, kind=request.param)
    with running(spec, directory / "broker.log", READY_TIMEOUT_S) as service:
        yield service


class Confirmed:
    """Collects the deliveries the sink reports as confirmed by Kafka."""

    def __init__(self) -> None:
        self.mids: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, deliveries: list[Delivery]) -> None:
        with self._lock:
            self.mids.update(d.mid for d in deliveries)

    def wait(self, mids: set[int], timeout_s: float) -> set[int]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not mids <= self.mids:
            time.sleep(0.1)
        return mids - self.mids


def test_sink_sends_again_after_the_broker_restarted(
    tmp_path: Path, own_kafka: RunningService
) -> None:
    settings: Settings = settings_for(tmp_path / "var", None, own_kafka, None)
    ensure_topics(settings, 30)
    confirmed = Confirmed()
    sink = KafkaSink(settings, confirmed)
    sink.start()
    topic = settings.kafka.topics.deadletter

    def send(first: int, count: int) -> set[int]:
        mids = set(range(first, first + count))
        for mid in mids:
            sink.send_now(topic, b"k", f"record-{mid}".encode(), Delivery(mid, 1, 0, 1))
        return mids

    try:
        # positive control: before the restart, records are confirmed and health is good
        assert confirmed.wait(send(0, 50), 30) == set()
        assert sink.health(5).problem is None

        own_kafka.stop()
        during = send(1000, 200)  # held while the broker is away
        time.sleep(6)
        assert not during <= confirmed.mids
        outage = sink.health(5)
        assert outage.problem is not None and "confirmed nothing" in outage.problem, outage

        began = time.monotonic()
        own_kafka.restart()  # Tansu (memory): the topics are gone, as in the incident
        ensure_topics(settings, 30)
        after = send(2000, 200)
        missing = confirmed.wait(during | after, 120)
        took = time.monotonic() - began
        assert missing == set(), (
            f"{len(missing)} records never confirmed after the restart "
            f"(producer replaced {sink.replacements} times)"
        )
        print(f"recovered {took:.1f} s after the broker restart; "
              f"producer replaced {sink.replacements} times")
        assert sink.health(5).problem is None
    finally:
        sink.close(5)

    tail = KafkaTail(settings, topic)
    try:
        want = {f"record-{mid}".encode() for mid in during | after}
        records = tail.wait_for(lambda rs: want <= {v for _k, v in rs}, 30)
        assert want - {v for _k, v in records} == set()
    finally:
        tail.close()
