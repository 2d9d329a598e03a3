"""The worker's fast reading of event records agrees with the pydantic models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from anbu.events import DeviceEvent, EventBatch, EventKind, SourceFormat
from detectors.fastparse import fast_events


def _event(i: int, kind: EventKind = EventKind.MOTION) -> DeviceEvent:
    moment = datetime(2026, 3, 2, 1, tzinfo=UTC) + timedelta(seconds=i)
    return DeviceEvent(household_id="hh-1", device_id=f"d{i}", kind=kind, value=i,
                       event_time=moment, receive_time=moment, source_format=SourceFormat.ANBU,
                       idempotency_key=f"k{i}", detail="req-1" if i == 2 else None)


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
