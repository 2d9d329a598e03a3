"""Log rate limits apply per kind of problem, not per topic: a junk flood is a few lines."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from anbu.events import SourceFormat
from anbu.registry_records import DeviceRecord
from anbu.timeutil import utcnow
from ingest.normalise import Inbound, Normaliser
from ingest.ratelimit import OTHER_KINDS, RateLimitedLog
from ingest.registry_cache import RegistryCache


def _normaliser() -> Normaliser:
    cache = RegistryCache()
    cache.apply(
        DeviceRecord(
            device_id="hh-1-motion",
            household_id="hh-1",
            kind="motion",
            source_format=SourceFormat.ZIGBEE2MQTT,
            mqtt_topic="zigbee2mqtt/hh-1-motion",
        )
    )
    return Normaliser(
        cache,
        device_time_window=timedelta(minutes=5),
        max_payload_bytes=65536,
        log_every=timedelta(seconds=60),
    )


def test_a_flood_on_distinct_unregistered_topics_logs_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    normaliser = _normaliser()
    caplog.set_level(logging.WARNING, logger="ingest.normalise")
    now = utcnow()
    reasons = set()
    for i in range(5000):
        topic = f"zigbee2mqtt/junk-{i}" if i % 2 else f"anbu/gw-junk-{i}/button"
        result = normaliser.normalise(Inbound(topic, b'{"occupancy": true}', now))
        assert result.dead_letter is not None
        reasons.add(result.dead_letter.reason)
    # Every junk message is still dead-lettered: only the logging is limited.
    assert reasons == {"unregistered"}
    unregistered = [r for r in caplog.records if "unregistered topic" in r.getMessage()]
    assert len(unregistered) == 1, [r.getMessage() for r in unregistered[:5]]
    # Positive control: a different kind of problem, during the same flood, still logs.
    bad = normaliser.normalise(Inbound("zigbee2mqtt/hh-1-motion", b'{"occupancy": tru', now))
    assert bad.dead_letter is not None and bad.dead_letter.reason == "not_json"
    not_json = [r for r in caplog.records if "dead letter not_json" in r.getMessage()]
    assert len(not_json) == 1


def test_the_next_line_counts_what_was_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.ratelimit")
    caplog.set_level(logging.WARNING, logger="tests.ratelimit")
    limited = RateLimitedLog(logger, every_s=0.3)
    for i in range(100):
        limited.warning("unregistered", "junk on %s", f"topic-{i}")
    assert [r.getMessage() for r in caplog.records] == ["junk on topic-0"]
    time.sleep(0.35)
    limited.warning("unregistered", "junk on %s", "topic-100")
    assert caplog.records[-1].getMessage() == "junk on topic-100 (99 similar suppressed)"


def test_kinds_past_the_cap_share_one_limit(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.ratelimit")
    caplog.set_level(logging.WARNING, logger="tests.ratelimit")
    limited = RateLimitedLog(logger, every_s=60, max_kinds=8)
    # A caller that passes a key per topic by mistake: 8 kinds, then one shared limit.
    for i in range(1000):
        limited.warning(f"unregistered:{i}", "junk on %s", i)
    assert len(caplog.records) == 9
    assert OTHER_KINDS in limited._last
    # A kind already known keeps its own limit.
    limited.warning("unregistered:0", "junk on %s", "again")
    assert len(caplog.records) == 9
