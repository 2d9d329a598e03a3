"""A household's state as compact bytes: how idle households are kept and how state is saved.

A running :class:`~detectors.household.Household` is a web of Python objects (the household,
its routine array, a dict of devices, a float object per timestamp): about 1.8 KB. The same
state packed with :mod:`struct` is about 620 bytes for a household with three remembered
devices, so the engine keeps households it has not touched lately in this form
(:class:`~detectors.store.HouseholdStore`) and the worker saves it at checkpoints.

Layout (little-endian): a version byte, a flags byte, the household's eleven floats; then, by
flag, the routine (its four counters, 168 rates, and 168 observation counts, two to a byte
when all are at most 15, as they are with the default half-life: see
:attr:`~detectors.params.DetectorParams.routine_count_cap`), the devices (a count, then for
each its id, its kind as a byte and its six numbers), the open alerts (pickled: they
are rare, few and of mixed shape), and the idempotency keys of the latest SOS records (a
count byte, then each as a name). The household id is not inside: it is the key the bytes
are stored under.
"""

from __future__ import annotations

import pickle
import struct
import sys

from detectors.exceptions import PackingError
from detectors.household import Device, Household, share_float
from detectors.routine import BINS, Routine, restore_routine
from detectors.silences import SIZE as _SILENCE_FLOATS
from detectors.silences import Silences, restore_silences

VERSION = 2  # 1 was the pickle of the whole Household object (still read by the runtime)

_HEAD = struct.Struct("<BB11d")
_ROUTINE = struct.Struct("<iHqi")  # cur_hour, cur_count, last_slot, learned_hours
_NIBBLES = BINS // 2
_COUNT = struct.Struct("<I")
_DUE = struct.Struct("<d")
_DUE_AT = _HEAD.size - _DUE.size  # due is the last of the head's floats
_DEVICE = struct.Struct("<5di")
_NAME = struct.Struct("<H")

_HB_REGISTERED = 1
_DEFERRED = 2
_ROUTINE_FLAG = 4
_DEVICES_FLAG = 8
_OPEN_FLAG = 16
_NIBBLE_FLAG = 32  # the routine's observation counts two to a byte (all of them <= 15)
_SILENCES_FLAG = 64  # the routine is the silences model: its counters, then its floats
_SOS_KEYS_FLAG = 128  # bytes packed before it had none: they read the same
_SILENCES = struct.Struct("<iH")  # day, mats
_SILENCE_BYTES = 4 * _SILENCE_FLOATS

# kinds as one byte; anything else is written out after _OTHER_KIND
_KINDS = ("motion", "door", "contact", "presence", "plug", "button", "robot", "gateway", "other")
_KIND_CODE = {k: i for i, k in enumerate(_KINDS)}
_OTHER_KIND = 255
_HIGH = bytes((v << 4) & 0xFF for v in range(256))  # v -> v in the high nibble
_TOP = bytes(v >> 4 for v in range(256))
_BOTTOM = bytes(v & 0x0F for v in range(256))

def pack(h: Household) -> bytes:
    """``h``'s state as bytes (everything but its id and its registry settings)."""
    flags = (_HB_REGISTERED if h.hb_registered else 0) | (_DEFERRED if h.deferred else 0)
    parts = [b""]
    routine = h.routine
    if type(routine) is Silences:
        flags |= _SILENCES_FLAG
        parts.append(_SILENCES.pack(routine.day, min(routine.mats, 0xFFFF)))
        parts.append(routine.tobytes())
    elif type(routine) is Routine:
        flags |= _ROUTINE_FLAG
        parts.append(_ROUTINE.pack(routine.cur_hour, routine.cur_count, routine.last_slot,
                                   routine.learned_hours))
        bins = routine.tobytes()
        counts = bins[BINS:]
        if max(counts) <= 15:
            flags |= _NIBBLE_FLAG
            # (even << 4) | odd for each pair, with C-speed byte operations
            high = int.from_bytes(counts[0::2].translate(_HIGH))
            bins = bins[:BINS] + (high | int.from_bytes(counts[1::2])).to_bytes(_NIBBLES)
        parts.append(bins)
    if h.devices:
        flags |= _DEVICES_FLAG
        parts.append(_COUNT.pack(len(h.devices)))
        for device_id, dev in h.devices.items():
            parts.append(pack_name(device_id))
            code = _KIND_CODE.get(dev.kind, _OTHER_KIND)
            parts.append(bytes((code,)))
            if code == _OTHER_KIND:
                parts.append(pack_name(dev.kind))
            parts.append(_DEVICE.pack(dev.interval, dev.last_seen, dev.value, dev.first_seen,
                                      dev.night_score, dev.night_day))
    if h.open:
        flags |= _OPEN_FLAG
        blob = pickle.dumps(h.open, protocol=pickle.HIGHEST_PROTOCOL)
        parts.append(struct.pack("<I", len(blob)))
        parts.append(blob)
    if h.sos_keys:
        flags |= _SOS_KEYS_FLAG
        parts.append(bytes((len(h.sos_keys),)))
        parts += [pack_name(key) for key in h.sos_keys]
    parts[0] = _HEAD.pack(VERSION, flags, h.last_activity, h.last_inside, h.last_door,
                          h.last_heard, h.last_hb, h.watch_start, h.hb_interval, h.unblind_at,
                          h.long_out, h.last_sos, h.due)
    return b"".join(parts)


def packed_due(raw: bytes) -> float:
    """The ``due`` time inside packed bytes, without unpacking them."""
    return float(_DUE.unpack_from(raw, _DUE_AT)[0])


def unpack(hid: str, raw: bytes) -> Household:
    """The household :func:`pack` made ``raw`` of (its settings are the default ones).

    Raises:
        PackingError: ``raw`` is not a packed household of this version, or is cut short.
    """
    if not raw or raw[0] != VERSION:
        raise PackingError(f"not a packed household (version byte {raw[:1]!r})")
    try:
        return _unpack(hid, raw)
    except (struct.error, IndexError, ValueError, pickle.UnpicklingError, EOFError) as exc:
        raise PackingError(f"packed household {hid!r} is damaged: {exc}") from exc


def _unpack(hid: str, raw: bytes) -> Household:
    h = Household(hid)
    head = _HEAD.unpack_from(raw)
    flags = head[1]
    # equal floats become one object, as while the household ran (an event's time is both
    # last_activity and last_inside, a device's last_seen often one of them): 24 B each
    shared: dict[float, float] = {}
    (h.last_activity, h.last_inside, h.last_door, h.last_heard, h.last_hb, h.watch_start,
     h.hb_interval, h.unblind_at, h.long_out, h.last_sos, h.due) = [
        share_float(v, shared) for v in head[2:]]
    h.hb_registered = bool(flags & _HB_REGISTERED)
    h.deferred = bool(flags & _DEFERRED)
    pos = _HEAD.size
    if flags & _SILENCES_FLAG:
        day, mats = _SILENCES.unpack_from(raw, pos)
        pos += _SILENCES.size
        if pos + _SILENCE_BYTES > len(raw):
            raise PackingError("the silences model runs past the end")
        h.routine = restore_silences(raw[pos:pos + _SILENCE_BYTES], day, mats)
        pos += _SILENCE_BYTES
    if flags & _ROUTINE_FLAG:
        counters = _ROUTINE.unpack_from(raw, pos)
        pos += _ROUTINE.size
        if flags & _NIBBLE_FLAG:
            bins = bytearray(2 * BINS)
            bins[:BINS] = raw[pos:pos + BINS]
            pairs = raw[pos + BINS:pos + BINS + _NIBBLES]
            bins[BINS::2] = pairs.translate(_TOP)
            bins[BINS + 1::2] = pairs.translate(_BOTTOM)
            pos += BINS + _NIBBLES
        else:
            bins = bytearray(raw[pos:pos + 2 * BINS])
            pos += 2 * BINS
        h.routine = restore_routine(bins, *counters)
    if flags & _DEVICES_FLAG:
        (count,) = _COUNT.unpack_from(raw, pos)
        pos += _COUNT.size
        devices: dict[str, Device] = {}
        for _ in range(count):
            device_id, pos = read_name(raw, pos)
            code = raw[pos]
            pos += 1
            if code == _OTHER_KIND:
                kind, pos = read_name(raw, pos)
                kind = sys.intern(kind)  # a handful of kinds: one string each
            else:
                kind = _KINDS[code]
            dev = Device(kind)
            *numbers, dev.night_day = _DEVICE.unpack_from(raw, pos)
            (dev.interval, dev.last_seen, dev.value, dev.first_seen, dev.night_score) = [
                share_float(v, shared) for v in numbers]
            pos += _DEVICE.size
            devices[device_id] = dev
        h.devices = devices
    if flags & _OPEN_FLAG:
        (size,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        h.open = pickle.loads(raw[pos:pos + size])
        pos += size
    if flags & _SOS_KEYS_FLAG:
        count = raw[pos]
        pos += 1
        keys = []
        for _ in range(count):
            key, pos = read_name(raw, pos)
            keys.append(key)
        h.sos_keys = tuple(keys)
    if pos != len(raw):
        raise PackingError(f"packed household {hid!r}: {len(raw) - pos} bytes left over")
    return h


def pack_name(text: str) -> bytes:
    """``text`` as its UTF-8 length (two bytes) and its UTF-8."""
    data = text.encode()
    if len(data) > 0xFFFF:
        # ids are at most 64 characters (the models check it); never cut one silently
        raise PackingError(f"name too long to pack ({len(data)} bytes): {text[:40]!r}...")
    return _NAME.pack(len(data)) + data


def read_name(raw: bytes, pos: int) -> tuple[str, int]:
    """The name :func:`pack_name` wrote at ``pos``, and the position after it."""
    (size,) = _NAME.unpack_from(raw, pos)
    start = pos + _NAME.size
    end = start + size
    if end > len(raw):
        raise PackingError("a name runs past the end")
    return raw[start:end].decode(), end
