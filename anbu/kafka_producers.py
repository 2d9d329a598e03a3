"""What anbu's kafka-python producers share: giving up on one that can no longer send.

A kafka-python idempotent producer that hit a fatal error (after a broker restart, Tansu
answers ``InitProducerId`` with ``UnknownError``) aborts every batch for ever; the caller
replaces it with a new one. Closing the old one is not simple: ``close(timeout=0)`` first
flushes, the flush times out and raises, and the sender thread is left running (and
``__del__`` tries again, noisily). :func:`abandon` force-closes it instead.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

log = logging.getLogger(__name__)


def abandon(producer: KafkaProducer) -> None:
    """Close ``producer`` now; what it still held fails through its futures' error callbacks."""
    try:
        producer.close(timeout=0)
        return
    except KafkaTimeoutError:
        pass  # its flush timed out before the sender was stopped: stop it here
    except Exception as exc:  # noqa: BLE001 - it was broken already
        log.info("closing a broken Kafka producer: %r", exc)
    sender = getattr(producer, "_sender", None)
    if sender is not None and sender.is_alive():
        sender.force_close()  # fails every batch it held, so their errbacks run
        sender.join(5)
    producer._closed = True  # so __del__ does not try to flush it again
