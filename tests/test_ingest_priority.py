"""Telling what can be an SOS from the registry, and pairing the two lanes' copies."""

from __future__ import annotations

import time

from anbu.events import SourceFormat
from anbu.registry_records import DeviceKindName, DeviceRecord, GatewayRecord
from ingest.priority import SosClaims, may_be_sos, sos_filters
from ingest.registry_cache import RegistryCache


def _cache() -> RegistryCache:
    cache = RegistryCache()
    cache.apply(GatewayRecord(gateway_id="gw-1", household_id="hh-1", mqtt_username="gw-1"))
    devices: list[tuple[str, DeviceKindName, SourceFormat, str]] = [
        ("hh-1-robot", "robot", SourceFormat.ANBU, "anbu/gw-1/robot"),
        ("hh-1-button", "button", SourceFormat.ZIGBEE2MQTT, "zigbee2mqtt/hh-1-button"),
        ("hh-1-shelly", "button", SourceFormat.SHELLY, "shellies/hh-1-i3"),
        ("hh-1-motion", "motion", SourceFormat.ZIGBEE2MQTT, "zigbee2mqtt/hh-1-motion"),
        ("hh-1-plug", "plug", SourceFormat.TASMOTA, "tele/hh-1-plug"),
    ]
    for device_id, kind, fmt, topic in devices:
        cache.apply(
            DeviceRecord(
                device_id=device_id,
                household_id="hh-1",
                gateway_id="gw-1",
                kind=kind,
                source_format=fmt,
                mqtt_topic=topic,
            )
        )
    return cache


def test_filters_cover_gateways_and_buttons_only() -> None:
    cache = _cache()
    assert sos_filters(cache) == {
        "anbu/gw-1/#",  # the robot under it needs no filter of its own
        "zigbee2mqtt/hh-1-button/#",
        "shellies/hh-1-i3/#",
    }
    version = cache.version
    cache.remove("device:hh-1-button")
    assert cache.version > version
    assert "zigbee2mqtt/hh-1-button/#" not in sos_filters(cache)


def test_candidates_are_told_without_parsing() -> None:
    cache = _cache()
    assert may_be_sos(cache, "anbu/gw-1/button", b'{"type": "sos"}')
    assert may_be_sos(cache, "anbu/gw-1/robot", b'{"type":"fall"}')
    assert may_be_sos(cache, "zigbee2mqtt/hh-1-button", b'{"action":"single"}')
    assert may_be_sos(cache, "shellies/hh-1-i3/input_event/0", b'{"event":"S"}')
    assert not may_be_sos(cache, "anbu/gw-1/heartbeat", b'{"type":"heartbeat"}')
    assert not may_be_sos(cache, "anbu/gw-junk/button", b'{"type":"sos"}')  # unregistered
    assert not may_be_sos(cache, "zigbee2mqtt/hh-1-motion", b'{"action":"sos"}')
    assert not may_be_sos(cache, "tele/hh-1-plug/SENSOR", b'{"sos":1}')


def test_claims_pair_the_two_copies_of_each_message() -> None:
    claims = SosClaims()
    # The SOS lane reads it first and sends it; the main lane's copy is not sent again.
    assert claims.claim("k1", "sos")
    assert not claims.claim("k1", "main")
    # The pair is used up: the same bytes sent again later are a new press.
    assert claims.claim("k1", "main")
    assert not claims.claim("k1", "sos")
    # Two identical messages before either pair arrives: two records, two skips.
    assert claims.claim("k2", "sos") and claims.claim("k2", "sos")
    assert not claims.claim("k2", "main") and not claims.claim("k2", "main")
    assert claims.claim("k2", "main")


def test_an_unpaired_claim_is_forgotten() -> None:
    claims = SosClaims(keep_s=0.2)
    assert claims.claim("k", "sos")
    time.sleep(0.25)
    # Past keep_s the main lane's copy is sent again (a duplicate, never a loss).
    assert claims.claim("k", "main")
    bounded = SosClaims(max_claims=3)
    for key in ("a", "b", "c", "d"):
        assert bounded.claim(key, "sos")
    assert bounded.claim("a", "main")  # the oldest was forgotten
    assert not bounded.claim("d", "main")  # a recent one is still paired
