"""A household's saved form in the worker's state table: its packed state and its offsets.

The worker's ``household-state`` table holds, per household, the offsets of the last input
records its state includes (events topic, SOS topic) and the state itself, packed by
:mod:`detectors.packing`. Older forms (a pickle of the household, with or without offsets)
are still read, so a worker upgraded over a saved table resumes where it stopped.
"""

from __future__ import annotations

import pickle
import struct

from detectors.household import Household
from detectors.packing import pack_name, read_name, unpack

AsOf = tuple[int, int]
"""The last processed offsets (events topic, SOS topic) of a partition; -1: none."""

NOTHING: AsOf = (-1, -1)

_HEADER = struct.Struct("<4sqq")
_MAGIC = b"hh1\x00"  # offsets, then a pickle of the Household (saved before packing)
_MAGIC_PACKED = b"hh2\x00"  # offsets, the household id, then detectors.packing's bytes


def encode_household(hid: str, packed: bytes, as_of: AsOf) -> bytes:
    """A household's saved form: the offsets its state includes, its id, its packed state."""
    return _HEADER.pack(_MAGIC_PACKED, *as_of) + pack_name(hid) + packed


def decode_household(raw: bytes) -> tuple[Household, AsOf]:
    """Read :func:`encode_household`'s form (or the older pickled forms)."""
    magic = raw[:4]
    if magic == _MAGIC_PACKED:
        _, events, sos = _HEADER.unpack_from(raw)
        hid, pos = read_name(raw, _HEADER.size)
        return unpack(hid, raw[pos:]), (events, sos)
    if magic == _MAGIC:
        _, events, sos = _HEADER.unpack_from(raw)
        return pickle.loads(raw[_HEADER.size:]), (events, sos)
    return pickle.loads(raw), NOTHING
