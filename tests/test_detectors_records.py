"""Only bad input is dead-lettered, and a dead letter names the topic its record came from.

The read step and the apply step of the worker (:mod:`detectors.records`) on the real
detector core; then the real worker on the test broker with malformed records on both of its
input topics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaProducer

from anbu.events import AlertKind, EventKind, SosCause, SosEvent, SourceFormat
from anbu.timeutil import utcnow
from config import Settings
from detectors.params import DetectorParams
from detectors.records import Applied, Parsed, RecordCounts, take
from detectors.runtime import Runtime
from tests.kit.detector_worker import AlertReader, Worker, dead_letters, event

TOPIC = "anbu.events.records-test"


def _valid_record() -> bytes:
    return event("hh-records", "m-1", EventKind.MOTION, 1, utcnow()).to_json()


def _core_with_a_bug(
    runtime: Runtime, bug: bool
) -> tuple[list[str], Callable[[Parsed], Applied]]:
    """Apply through the real core; with ``bug``, the core raises a ValueError first."""
    applied: list[str] = []

    def apply(record: Parsed) -> Applied:
        applied.append(type(record).__name__)
        if bug:
            raise ValueError("a detector bug: unpacking a state it wrote itself")
        if isinstance(record, list):
            return runtime.apply_events(0, record, 7), None
        return runtime.apply(0, record, 7, None), None

    return applied, apply


@pytest.mark.parametrize("bug", [False, True], ids=["core-fine", "core-raises"])
def test_a_core_value_error_does_not_dead_letter_a_valid_record(
    bug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Runtime(DetectorParams(), 4)
    counts = RecordCounts()
    applied, apply = _core_with_a_bug(runtime, bug)
    with caplog.at_level(logging.ERROR, logger="detectors.records"):
        outcome = take(_valid_record(), False, TOPIC, 0, apply, counts)
    assert applied == ["list"]  # read on the fast path, then handed to the core
    assert outcome.letter is None  # the valid record is never blamed
    assert counts.dead_lettered == 0
    assert outcome.failed is bug and counts.failed == int(bug)
    bug_logged = [r for r in caplog.records if "worker bug" in r.getMessage()]
    assert len(bug_logged) == int(bug)
    if not bug:  # the control: the core took the event
        assert runtime.states[0].engine.households.get("hh-records") is not None


@pytest.mark.parametrize(("raw", "sos"), [(b"{not json", False), (b'{"schema_version":1}', True)])
def test_a_malformed_record_is_dead_lettered_with_its_topic(raw: bytes, sos: bool) -> None:
    counts = RecordCounts()
    applied, apply = _core_with_a_bug(Runtime(DetectorParams(), 4), False)
    topic = "anbu.sos.records-test" if sos else TOPIC
    outcome = take(raw, sos, topic, 2, apply, counts)
    assert applied == []  # never reaches the core
    assert outcome.letter is not None and outcome.letter.reason == "invalid_event"
    assert outcome.letter.topic == f"kafka:{topic}"
    assert outcome.letter.payload == raw.decode()
    assert (counts.dead_lettered, counts.failed) == (1, 0)


def test_the_worker_dead_letters_bad_records_as_from_their_own_topics(
    det_settings: Settings, tmp_path: Path
) -> None:
    topics = det_settings.kafka.topics
    worker = Worker(det_settings, tmp_path / "worker.log", margin=None)
    reader = AlertReader(det_settings)
    try:
        worker.start()
        producer = KafkaProducer(bootstrap_servers=det_settings.kafka.bootstrap_servers,
                                 acks="all")
        producer.send(topics.events, key=b"hh-bad", value=b'{"events": "not a batch"}')
        producer.send(topics.sos, key=b"hh-bad", value=b'{"sos": "not an sos"}')
        now = utcnow()
        # then a valid SOS: the worker goes on after the bad ones
        sos = SosEvent(household_id="hh-bad", device_id="btn", cause=SosCause.BUTTON,
                       event_time=now, receive_time=now, source_format=SourceFormat.ANBU,
                       idempotency_key="records-sos")
        producer.send(topics.sos, key=b"hh-bad", value=sos.to_json())
        producer.flush()
        producer.close()
        reader.wait_for(lambda _: any(a.household_id == "hh-bad" and a.kind is AlertKind.SOS
                                      for a in reader.alerts), 90, worker)
        assert any(a.household_id == "hh-bad" for a in reader.alerts), worker.log.read_text()
        deadline = time.monotonic() + 30
        letters = dead_letters(det_settings)
        while len(letters) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            letters = dead_letters(det_settings)
        log = worker.log.read_text()
        assert sorted(d.topic for d in letters) == sorted(
            [f"kafka:{topics.events}", f"kafka:{topics.sos}"]), log[-3000:]
        assert {d.reason for d in letters} == {"invalid_event"}
        assert "worker bug" not in log
    finally:
        reader.close()
        worker.stop()
