"""The worker's fast reading of event records agrees with the pydantic models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from anbu.events import DeviceEvent, EventBatch, EventKind, SosCause, SosEvent, SourceFormat
from detectors.fastparse import fast_events


def _event(i: int, kind: EventKind = EventKind.MOTION, household: str = "hh-1") -> DeviceEvent:
    moment = datetime(2026, 3, 2, 1, tzinfo=UTC) + timedelta(seconds=i)
    return DeviceEvent(household_id=household, device_id=f"d{i}", kind=kind, value=i,
                       event_time=moment, receive_time=moment, source_format=SourceFormat.ANBU,
                       idempotency_key=f"k{i}", detail="req-1" if i == 2 else None)


def _as_models_read(raw: bytes) -> list[tuple[float, str, str, str, float, str | None]]:
    """What the validated path hands the detectors for the same record."""
    doc = json.loads(raw)
    record = EventBatch.from_json(raw) if doc.get("type") == "batch" else \
        DeviceEvent.from_json(raw)
    events = record.events if isinstance(record, EventBatch) else [record]
    return [(e.event_time.timestamp(), e.household_id, e.device_id, e.kind.value, e.value,
             e.detail) for e in events]


def _edited(event: DeviceEvent, **changes: Any) -> dict[str, Any]:
    """The event's JSON object with fields replaced (a value of ``...`` drops the field)."""
    doc: dict[str, Any] = json.loads(event.to_json())
    for name, value in changes.items():
        if value is ...:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc


def _batch(*events: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"schema_version": 1, "type": "batch", **top,
                       "events": list(events)}).encode()


def test_a_batch_reads_the_same_as_through_the_models() -> None:
    batch = EventBatch(household_id="hh-1", events=[_event(i) for i in range(3)])
    fast = fast_events(batch.to_json())
    assert fast == [(e.event_time.timestamp(), e.household_id, e.device_id, e.kind.value,
                     e.value, e.detail) for e in batch.events]
    single = _event(7, EventKind.CHECKIN_ANSWER)
    assert fast_events(single.to_json()) == [
        (single.event_time.timestamp(), "hh-1", "d7", "checkin_answer", 7.0, None)]


def test_anything_unusual_goes_to_the_validated_path() -> None:
    good = _event(1).to_json().decode()
    assert fast_events(b"not json") is None
    assert fast_events(good.replace('"motion"', '"sneeze"').encode()) is None
    assert fast_events(good.replace("+00:00", "").replace("Z", "").encode()) is None
    assert fast_events(good.replace('"value":1.0', '"value":true').encode()) is None
    # an event of another household inside a named batch (the model refuses to build one)
    other = EventBatch.model_construct(household_id="hh-2", events=[_event(1)]).to_json()
    assert fast_events(other) is None


def test_a_mixed_batch_keeps_each_events_household_and_order() -> None:
    mixed = EventBatch(events=[_event(1), _event(2, household="hh-2"), _event(3)])
    fast = fast_events(mixed.to_json())
    assert fast is not None and [f[1] for f in fast] == ["hh-1", "hh-2", "hh-1"]
    assert fast == _as_models_read(mixed.to_json())
    assert fast[1][5] == "req-1"


def test_every_event_kind_is_read() -> None:
    events = [_event(i, kind) for i, kind in enumerate(EventKind)]
    fast = fast_events(EventBatch(household_id="hh-1", events=events).to_json())
    assert fast is not None and [f[3] for f in fast] == [k.value for k in EventKind]
    assert all(type(f[3]) is str for f in fast)  # plain strings, as the models' .value


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"value": 3}, 4, 3.0),  # a JSON integer is a number
    ({"value": -0.5}, 4, -0.5),
    ({"household_id": "가" * 64}, 1, "가" * 64),  # 64 characters, not bytes
    ({"schema_version": ...}, 4, 1.0),  # an event inside a batch may omit it
    ({"detail": None}, 5, None),
    ({"event_time": "2026-03-02T10:00:01+09:00"}, 0,
     datetime(2026, 3, 2, 1, 0, 1, tzinfo=UTC).timestamp()),
])
def test_what_the_fast_path_accepts_reads_as_the_models_do(
        changes: dict[str, Any], field: int, expected: object) -> None:
    raw = _batch(_edited(_event(1), **changes))
    fast = fast_events(raw)
    assert fast is not None and fast == _as_models_read(raw)
    assert fast[0][field] == expected and type(fast[0][4]) is float


def test_fields_the_detectors_do_not_read_are_not_checked() -> None:
    # as before msgspec: unknown fields and the bookkeeping fields are the models' business
    # (the fast path never checked them); the events read are the same
    raw = _batch(_edited(_event(1), extra={"x": [1]}, receive_time="soon", idempotency_key=""))
    assert fast_events(raw) == fast_events(_batch(_edited(_event(1))))
    assert fast_events(raw) is not None


@pytest.mark.parametrize("changes", [
    {"value": True},
    {"value": False},
    {"value": "1"},
    {"value": None},
    {"value": ...},
    {"household_id": "h" * 65},
    {"household_id": "가" * 65},
    {"device_id": ""},
    {"device_id": 7},
    {"kind": "sneeze"},
    {"kind": "MOTION"},
    {"event_time": "2026-03-02T01:00:01"},  # no offset
    {"event_time": 1772413201},  # epoch seconds: the models decide
    {"event_time": "yesterday"},
    {"detail": 5},
    {"schema_version": 2},
])
def test_a_bad_event_sends_its_whole_batch_to_the_validated_path(
        changes: dict[str, Any]) -> None:
    assert fast_events(_batch(_edited(_event(0)), _edited(_event(1)))) is not None
    assert fast_events(_batch(_edited(_event(0)), _edited(_event(1), **changes))) is None


def test_a_record_that_is_not_a_plain_batch_or_event_goes_to_the_validated_path() -> None:
    event = _event(1)
    assert fast_events(_batch()) is None  # no events
    assert fast_events(_batch(_edited(event), schema_version=2)) is None
    assert fast_events(_batch(_edited(event), household_id="hh-2")) is None
    assert fast_events(json.dumps({"schema_version": 1, "type": "batch"}).encode()) is None
    # a single event must say its schema version (the record's own)
    assert fast_events(json.dumps(_edited(event, schema_version=...)).encode()) is None
    assert fast_events(json.dumps(_edited(event, kind=...)).encode()) is None
    moment = datetime(2026, 3, 2, 1, tzinfo=UTC)
    sos = SosEvent(household_id="hh-1", device_id="b", cause=SosCause.BUTTON, event_time=moment,
                   receive_time=moment, source_format=SourceFormat.ANBU, idempotency_key="s")
    assert fast_events(sos.to_json()) is None
    for raw in (b"", b"null", b"[]", b"\xff\xfe", b"[" * 100_000, event.to_json()[:-5],
                b'{"schema_version":1,"type":"batch","events":[1]}'):
        assert fast_events(raw) is None
