"""Which partition a household's records go to: the one rule the bridge and the worker share.

The bridge batches several households into one ``anbu.events`` record and picks its
partition itself; the detector worker keeps each household's state on the partition it
expects that household's events on. Both must agree with Kafka's default partitioner
(murmur2 of the key), which every keyed producer (the registry, SOS, alerts) uses.

``detectors/runtime.py`` still has a copy of its own (``partition_of``): using this one there
made tests/test_scale_workers.py lose the SOS alert after the hand-over, every time (cause
not found yet); tests/test_ingest_batching.py checks the bridge against real partitions.
"""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_of(household_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a household's key.

    Args:
        household_id: the household (the records' key, UTF-8).
        partitions: how many partitions the topic has.

    Returns:
        The partition number, from 0 to ``partitions - 1``.
    """
    return (murmur2(household_id.encode()) & 0x7FFFFFFF) % partitions
