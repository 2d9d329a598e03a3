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
