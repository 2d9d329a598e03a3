"""Households by id: the recently used ones as objects, the others packed as bytes.

An engine for a city holds hundreds of thousands of households, and a household hears from
its sensors every few minutes, so at any moment most of them are idle. Kept as objects they
cost about 1.8 KB each; packed (:mod:`detectors.packing`) about 0.65 KB. The store keeps at
most ``limit`` households as objects and packs the one unpacked longest ago when it needs
room: the same trade a state backend such as RocksDB makes, with unpacking (about 10 µs) in
place of a disk read.

A :class:`~detectors.household.Household` got from the store is valid until the next lookup
of *another* household, which may pack it: the engine changes a household only right after
looking it up, and nothing may keep one across lookups.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping

from detectors.exceptions import PackingError
from detectors.household import Household
from detectors.packing import pack, packed_due, unpack

log = logging.getLogger(__name__)


class HouseholdStore(MutableMapping[str, Household]):
    """A mapping of household id to :class:`Household`, packing the one unpacked longest ago.

    Args:
        limit: households kept as objects (0: all of them, never pack).
        configure: called with each household unpacked (gives it its registry settings,
            which are not packed).

    Attributes:
        hot: households kept as objects, the longest-unpacked first.
        cold: packed households.
        unpacked: how many times a household was unpacked (for the benchmarks).
        stuck: households that could not be packed (kept as objects, logged once).
    """

    __slots__ = ("_configure", "cold", "hot", "limit", "stuck", "unpacked")

    def __init__(self, limit: int, configure: Callable[[Household], None]) -> None:
        self.hot: OrderedDict[str, Household] = OrderedDict()
        self.cold: dict[str, bytes] = {}
        self.limit = limit
        self._configure = configure
        self.unpacked = 0
        self.stuck: set[str] = set()

    def get(self, hid: str, default: Household | None = None) -> Household | None:  # type: ignore[override]
        """The household, unpacked if it was packed; ``default`` if there is none."""
        h = self.hot.get(hid)
        if h is not None:
            return h
        raw = self.cold.get(hid)
        if raw is None:
            return default
        try:
            h = unpack(hid, raw)
        except PackingError:
            # never expected (the bytes are our own): the household starts afresh rather
            # than failing every event and deadline of its own for ever
            log.exception("packed household %s unreadable, starting it afresh", hid)
            del self.cold[hid]
            return default
        self._configure(h)
        self.unpacked += 1
        self[hid] = h
        return h

    def __getitem__(self, hid: str) -> Household:
        h = self.get(hid)
        if h is None:
            raise KeyError(hid)
        return h

    def __setitem__(self, hid: str, h: Household) -> None:
        hot = self.hot
        hot[hid] = h
        self.cold.pop(hid, None)
        if not self.limit:
            return
        for _ in range(len(hot)):
            if len(hot) <= self.limit:
                break
            old_id = next(iter(hot))
            if old_id == hid:
                break  # never the one just stored: its caller is about to change it
            if old_id not in self.stuck:
                try:
                    self.cold[old_id] = pack(hot[old_id])  # packed before it leaves
                    del hot[old_id]
                    continue
                except PackingError:
                    log.exception("household %s cannot be packed; kept unpacked", old_id)
                    self.stuck.add(old_id)
            # one that cannot be packed stays an object and blocks no other
            hot.move_to_end(old_id)

    def __delitem__(self, hid: str) -> None:
        self.stuck.discard(hid)
        if self.hot.pop(hid, None) is None and self.cold.pop(hid, None) is None:
            raise KeyError(hid)

    def __contains__(self, hid: object) -> bool:
        return hid in self.hot or hid in self.cold

    def __len__(self) -> int:
        return len(self.hot) + len(self.cold)

    def __iter__(self) -> Iterator[str]:
        # a snapshot: looking households up while iterating moves them between the dicts
        return iter([*self.hot, *self.cold])

    def packed(self, hid: str) -> bytes | None:
        """The household's packed form, without unpacking it if it is packed.

        Raises:
            PackingError: the household cannot be packed.
        """
        h = self.hot.get(hid)
        if h is not None:
            return pack(h)
        return self.cold.get(hid)

    def dues(self) -> dict[str, float]:
        """Every household's next wake-up time, packed ones read without unpacking."""
        out = {hid: h.due for hid, h in self.hot.items()}
        out.update((hid, packed_due(raw)) for hid, raw in self.cold.items())
        return out

    def put_packed(self, hid: str, raw: bytes) -> None:
        """Keep a packed household as it is (not checked until it is first looked up)."""
        self.hot.pop(hid, None)
        self.cold[hid] = raw
