"""Dead letters: whatever the bad input, the letter itself can always be sent."""

from __future__ import annotations


def test_a_huge_payload_still_makes_a_dead_letter_kafka_accepts() -> None:
    from anbu.events import DEAD_LETTER_PAYLOAD_MAX, DeadLetter
    from anbu.timeutil import utcnow

    huge = "\x01" * 400_000  # each written as \u0001 in JSON: six times longer
    letter = DeadLetter(reason="invalid_event", detail="d", topic="kafka:t", payload=huge,
                        receive_time=utcnow())
    assert letter.payload == huge[:DEAD_LETTER_PAYLOAD_MAX]
    assert letter.payload_chars == len(huge)
    assert len(letter.to_json()) < 1_000_000  # Kafka's default largest record
    assert DeadLetter.from_json(letter.to_json()) == letter


def test_a_time_out_of_range_in_utc_is_a_validation_error_not_a_crash() -> None:
    """Year 9999 at -23:59 is valid ISO 8601 but past datetime's range in UTC: the worker and
    the bridge catch validation errors to dead-letter a record, never OverflowError."""
    import pytest
    from pydantic import ValidationError

    from anbu.events import DeviceEvent

    event = ('{"schema_version":1,"household_id":"hh-1","device_id":"d","kind":"motion",'
             '"value":1,"event_time":"2026-03-02T01:00:00+09:00",'
             '"receive_time":"9999-12-31T23:59:59-23:59","source_format":"simulator",'
             '"idempotency_key":"k"}')
    with pytest.raises(ValidationError, match="out of range in UTC"):
        DeviceEvent.model_validate_json(event)
