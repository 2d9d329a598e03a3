"""Property tests over every adapter: any input becomes events, an SOS, a dead letter with a
reason, or a deliberately ignored message, and no exception ever escapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from anbu.events import DeadLetter, DeviceEvent, SosEvent, SourceFormat
from anbu.registry_records import DeviceRecord, GatewayRecord
from ingest.adapters import ADAPTERS
from ingest.normalise import Inbound, Normaliser
from ingest.registry_cache import RegistryCache

RECEIVED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KINDS = ["motion", "door", "contact", "presence", "plug", "button", "robot", "gateway", "other"]
BASES = {
    SourceFormat.ZIGBEE2MQTT: "zigbee2mqtt/dev",
    SourceFormat.TASMOTA: "tele/tasmota_dev",
    SourceFormat.SHELLY: "shellies/shelly-dev",
    SourceFormat.ANBU: "anbu/gw-1/dev",
}
SUFFIXES = {
    SourceFormat.ZIGBEE2MQTT: ["", "availability", "set", "bridge/state", "weird/x"],
    SourceFormat.TASMOTA: ["SENSOR", "STATE", "LWT", "RESULT", ""],
    SourceFormat.SHELLY: [
        "relay/0",
        "relay/0/power",
        "relay/0/energy",
        "online",
        "sensor/state",
        "sensor/battery",
        "sensor/motion",
        "status",
        "input_event/0",
        "status/switch:0",
        "announce",
        "relay/0/command",
        "mystery",
    ],
    SourceFormat.ANBU: ["", "heartbeat", "command", "events"],
}
FIELDS = [
    "occupancy",
    "presence",
    "contact",
    "state",
    "power",
    "energy",
    "battery",
    "linkquality",
    "action",
    "last_seen",
    "ENERGY",
    "Power",
    "Total",
    "Time",
    "POWER",
    "POWER1",
    "output",
    "apower",
    "aenergy",
    "total",
    "minute_ts",
    "motion",
    "bat",
    "timestamp",
    "event",
    "event_cnt",
    "type",
    "ts",
    "seq",
    "interaction",
    "request_id",
    "ok",
    "source",
    "detail",
]
WORDS = [
    "ON",
    "OFF",
    "on",
    "off",
    "online",
    "offline",
    "Online",
    "true",
    "false",
    "open",
    "close",
    "heartbeat",
    "interaction",
    "checkin_answer",
    "sos",
    "fall",
    "touch",
    "voice",
    "medication_taken",
    "single",
    "",
    "robot",
    "button",
    "2026-03-01T09:01:00+09:00",
    "2026-03-01T09:01:00",
    "1e400",
    "NaN",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS), children, max_size=5),
    ),
    max_leaves=12,
)
# Mostly well-typed values, so that many inputs are valid and exercise the event paths too.
plausible_values = st.one_of(
    st.booleans(),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(0, 2_000_000_000),
    st.sampled_from(WORDS),
)
plausible_objects = st.fixed_dictionaries(
    {},
    optional={
        **{name: plausible_values for name in FIELDS},
        "ENERGY": st.fixed_dictionaries(
            {}, optional={"Power": plausible_values, "Total": plausible_values}
        ),
        "aenergy": st.fixed_dictionaries(
            {}, optional={"total": plausible_values, "minute_ts": plausible_values}
        ),
        "type": st.sampled_from(["heartbeat", "interaction", "checkin_answer", "sos", "fall"]),
    },
).map(lambda v: json.dumps(v).encode())
numbers = st.one_of(st.integers(0, 100_000), st.floats(0, 1e5, allow_nan=False))
times = st.one_of(
    st.integers(1_500_000_000, 2_000_000_000),
    st.sampled_from(["2026-03-01T09:01:00+09:00", "2026-03-01T00:02:00Z", "2026-03-01T09:01:00"]),
)
typed = {
    **dict.fromkeys(["occupancy", "presence", "contact", "output", "motion", "ok"], st.booleans()),
    **dict.fromkeys(
        ["power", "energy", "battery", "linkquality", "apower", "bat", "event_cnt", "seq"], numbers
    ),
    **dict.fromkeys(["state", "POWER"], st.sampled_from(["ON", "OFF"])),
    **dict.fromkeys(["action", "event"], st.sampled_from(["single", "S", "L", ""])),
    **dict.fromkeys(["ts", "last_seen", "Time"], times),
    "type": st.sampled_from(["heartbeat", "interaction", "checkin_answer", "sos", "fall"]),
    "interaction": st.sampled_from(["touch", "voice", "medication_taken"]),
    "request_id": st.text(min_size=1, max_size=10),
    "ENERGY": st.fixed_dictionaries({}, optional={"Power": numbers, "Total": numbers}),
    "aenergy": st.fixed_dictionaries({}, optional={"total": numbers, "minute_ts": times}),
}
typed_objects = st.one_of(
    st.fixed_dictionaries({}, optional=typed),
    st.lists(st.sampled_from(sorted(typed)), min_size=1, max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: typed[k] for k in keys})
    ),
).map(lambda v: json.dumps(v).encode())
plain_numbers = st.floats(0, 1e6, allow_nan=False).map(lambda f: repr(f).encode())
payloads = st.one_of(
    typed_objects,
    typed_objects,
    typed_objects,
    plausible_objects,
    plain_numbers,
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8).map(
        lambda v: json.dumps(v).encode()
    ),
    st.sampled_from(WORDS).map(str.encode),
    st.binary(max_size=64),
    st.text(max_size=40).map(str.encode),
)


def _normaliser(fmt: SourceFormat, kind: str) -> Normaliser:
    cache = RegistryCache()
    cache.apply(
        DeviceRecord(
            device_id="dev-1",
            household_id="hh-1",
            gateway_id="gw-1",
            kind=kind,  # type: ignore[arg-type]
            source_format=fmt,
            mqtt_topic=BASES[fmt],
        )
    )
    cache.apply(GatewayRecord(gateway_id="gw-1", household_id="hh-1", mqtt_username="gw-1"))
    return Normaliser(cache, device_time_window=timedelta(minutes=5), max_payload_bytes=4096)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(list(ADAPTERS)),
    kind=st.sampled_from(KINDS),
    data=st.data(),
    payload=payloads,
)
def test_every_adapter_turns_any_input_into_events_or_a_reasoned_dead_letter(
    fmt: SourceFormat, kind: str, data: Any, payload: bytes
) -> None:
    suffix = data.draw(st.sampled_from(SUFFIXES[fmt]))
    topic = BASES[fmt] + ("/" + suffix if suffix else "")
    result = _normaliser(fmt, kind).normalise(Inbound(topic, payload, RECEIVED))

    produced = bool(result.events or result.sos)
    outcome = (
        "events"
        if produced
        else result.ignored or (result.dead_letter and result.dead_letter.reason)
    )
    label(f"{fmt.value}: {outcome}")
    assert produced + (result.dead_letter is not None) + (result.ignored is not None) == 1
    if result.dead_letter is not None:
        letter = DeadLetter.from_json(result.dead_letter.to_json())
        assert letter.reason and letter.detail
        assert letter.reason != "adapter_error", letter.detail  # no unexpected exception
        assert letter.topic == topic
    for event in result.events:
        # Events are built as JSON dicts for speed: they must still be valid DeviceEvents.
        again = DeviceEvent.model_validate_json(json.dumps(event))
        assert json.loads(again.to_json()) == event  # and exactly what pydantic would write
        assert again.household_id == "hh-1" and again.device_id == "dev-1"
        assert abs(again.event_time - RECEIVED) <= timedelta(minutes=5)
        assert again.idempotency_key
    for sos in result.sos:
        assert SosEvent.from_json(sos.to_json()).household_id == "hh-1"
    keys = [e["idempotency_key"] for e in result.events] + [s.idempotency_key for s in result.sos]
    assert len(keys) == len(set(keys))
    # A redelivery of the same message gets the same keys, even received later.
    later = _normaliser(fmt, kind).normalise(Inbound(topic, payload, RECEIVED + timedelta(hours=1)))
    assert [e["idempotency_key"] for e in later.events] == [
        e["idempotency_key"] for e in result.events
    ]


@settings(max_examples=200, deadline=None)
@given(topic=st.text(min_size=1, max_size=60).filter(lambda t: "\x00" not in t), payload=payloads)
def test_any_topic_without_an_owner_is_ignored_or_dead_lettered_as_unregistered(
    topic: str, payload: bytes
) -> None:
    cache = RegistryCache()
    result = Normaliser(
        cache, device_time_window=timedelta(minutes=5), max_payload_bytes=4096
    ).normalise(Inbound(topic, payload, RECEIVED))
    assert not result.events and not result.sos
    if result.ignored is None:
        assert result.dead_letter is not None
        assert result.dead_letter.reason in {"unregistered", "payload_too_large"}
