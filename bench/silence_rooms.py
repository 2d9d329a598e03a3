"""Daytime silences by the room the resident was last seen in, on real logs and simulated ones.

``python -m bench.silence_rooms /work/shared/datasets`` prints, pooled over every home whose
sensors have known rooms (and per home), for each room: how long the resident was last seen
there while active (exposure), how many silences of 30 minutes or more began there, their
rate per hour of exposure, and their mean excess over 30 minutes. ``--simulated N`` adds the
simulator's households as ``anbu bench quality`` makes them. The simulator's room figures
(``simulator/rooms.py``) are taken from this table; docs/simulator.md cites it.

Definitions (those of :mod:`bench.realism` and of the detector's room setting):

* activity and at-home silences as in :mod:`bench.realism` (a silence after the entrance
  door of 10 minutes or more is an outing, one of 24 h or more an absence; both left out);
* daytime: the silence begins 06-21 h local (the detector's ``DAY_HOURS``), and no bed or
  couch mat is occupied (at night and on a mat the detector judges by the mat, not by room);
* a silence's room is that of the sensor of the last activity before it; exposure is each
  gap's first 30 minutes (where a collapse at an active moment would leave the resident).

Only sensors whose room is documented are counted: the Ordóñez and HomeAssist device names
carry their room, van Kasteren house A's sensor ids are listed by its publisher (the
``pyadlml`` loader); van Kasteren B and C's copies do not say which id is which room, so
those two homes are left out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.realism import ABSENCE_S, OUTING_MIN_S, Row, activity, local_hour, simulated_rows

ROOMS = ("bedroom", "living", "kitchen", "bathroom", "entrance")
SILENCE_MIN_S = 30 * 60.0  # the detector's silence_min
DAY_HOURS = (6, 21)

# van Kasteren house A (UbiComp 2008): sensor id -> room, from the dataset's sensor list
# (1 Microwave, 5 Hall-Toilet door, 6 Hall-Bathroom door, 7 Cups cupboard, 8 Fridge,
# 9 Plates cupboard, 12 Frontdoor, 13 Dishwasher, 14 ToiletFlush, 17 Freezer,
# 18 Pans Cupboard, 20 Washingmachine, 23 Groceries Cupboard, 24 Hall-Bedroom door).
_KASTEREN_A = {
    "1": "kitchen", "5": "bathroom", "6": "bathroom", "7": "kitchen", "8": "kitchen",
    "9": "kitchen", "12": "entrance", "13": "kitchen", "14": "bathroom", "17": "kitchen",
    "18": "kitchen", "23": "kitchen", "24": "bedroom",
}  # fmt: skip
# HomeAssist home 1: MotionD_<room> and named contacts and plugs (S, the washing machine's
# corner, and the unnamed plug L are left out)
_HOMEASSIST = {
    "MotionD_K": "kitchen", "MotionD_E": "entrance", "MotionD_L": "living",
    "MotionD_Ba": "bathroom", "MotionD_T": "bathroom", "MotionD_B": "bedroom",
    "ContactS_E": "entrance", "ContactS_Fridge": "kitchen", "ContactS_Cupboard": "kitchen",
    "EMeter_Coffeemaker": "kitchen",
}  # fmt: skip
_SUFFIX = {"Bedroom": "bedroom", "Living": "living", "Kitchen": "kitchen",
           "Bathroom": "bathroom", "Entrance": "entrance"}  # fmt: skip
# the simulator's device ids: <household>-<kind>-<what>
_SIMULATED = {"bed": "bedroom", "tv": "living", "kettle": "kitchen", "rice_cooker": "kitchen",
              "robot": "living"}  # fmt: skip
_MATS = frozenset({"presence"})


def room_of(device_id: str) -> str | None:
    """The room of a device in the real logs or the simulator (None: unknown)."""
    if device_id.startswith("ka-s"):
        return _KASTEREN_A.get(device_id.removeprefix("ka-s"))
    if device_id in _HOMEASSIST:
        return _HOMEASSIST[device_id]
    if "_" in device_id and device_id.rsplit("_", 1)[1] in _SUFFIX:  # Ordóñez: Seat_Living
        return _SUFFIX[device_id.rsplit("_", 1)[1]]
    if device_id.startswith("hh-"):
        what = device_id.rsplit("-", 1)[1]
        return what if what in ROOMS else _SIMULATED.get(what)
    return None


@dataclass(slots=True)
class RoomSilences:
    """Per room: exposure hours, silences of 30 min or more, and their excess hours."""

    exposure: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ROOMS, 0.0))
    count: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROOMS, 0))
    excess: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ROOMS, 0.0))
    over_2h: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROOMS, 0))

    def merge(self, other: RoomSilences) -> RoomSilences:
        """Pool ``other`` into this one (in place) and return it."""
        for r in ROOMS:
            self.exposure[r] += other.exposure[r]
            self.count[r] += other.count[r]
            self.excess[r] += other.excess[r]
            self.over_2h[r] += other.over_2h[r]
        return self

    def rate(self, room: str) -> float:
        """Silences of 30 min or more per hour last seen in ``room`` (nan: never seen there)."""
        e = self.exposure[room]
        return self.count[room] / e if e > 0 else math.nan

    def mean_excess(self, room: str) -> float:
        """Their mean excess over 30 min, hours (nan: none)."""
        n = self.count[room]
        return self.excess[room] / n if n else math.nan

    def share_over_2h(self, room: str) -> float:
        """The share of them over 2 h (nan: none)."""
        n = self.count[room]
        return self.over_2h[room] / n if n else math.nan

    def figures(self) -> dict[str, dict[str, float | int | None]]:
        """Per room: exposure h, silences, rate per exposure hour, mean excess h, share > 2 h."""

        def rounded(x: float, digits: int) -> float | None:
            return None if math.isnan(x) else round(x, digits)

        return {
            r: {
                "exposure_h": round(self.exposure[r], 1),
                "silences": self.count[r],
                "rate_per_h": rounded(self.rate(r), 3),
                "mean_excess_h": rounded(self.mean_excess(r), 2),
                "share_over_2h": rounded(self.share_over_2h(r), 2),
            }
            for r in ROOMS
        }


def home_rooms(rows: Iterable[Row]) -> RoomSilences:
    """One household's daytime silences by the room of the last activity before them."""
    rows = list(rows)
    events = activity(rows)
    mats: dict[str, float] = {}  # mat -> its latest value, replayed in time order
    mat_rows = sorted((r[0], r[2], r[4]) for r in rows if r[3] in _MATS)
    out = RoomSilences()
    m = 0
    for (a, dev, kind), (b, _, _) in zip(events, events[1:], strict=False):
        while m < len(mat_rows) and mat_rows[m][0] <= a:
            mats[mat_rows[m][1]] = mat_rows[m][2]
            m += 1
        gap = b - a
        if gap >= ABSENCE_S or (kind == "door" and gap >= OUTING_MIN_S):
            continue
        if not DAY_HOURS[0] <= local_hour(a) < DAY_HOURS[1] or any(v > 0.5 for v in mats.values()):
            continue
        room = room_of(dev)
        if room is None:
            continue
        out.exposure[room] += min(gap, SILENCE_MIN_S) / 3600.0
        if gap >= SILENCE_MIN_S:
            out.count[room] += 1
            out.excess[room] += (gap - SILENCE_MIN_S) / 3600.0
            out.over_2h[room] += gap >= 2 * 3600.0
    return out


def real_rooms(directory: Path) -> dict[str, RoomSilences]:
    """Every log in ``directory`` with rooms known, by file name."""
    from detectors.backtest import read_csv

    homes: dict[str, RoomSilences] = {}
    for path in sorted(directory.glob("*.csv")):
        rows = list(read_csv(path))
        if any(room_of(r[2]) for r in rows[:5000] if r[3] != "heartbeat"):
            homes[path.stem] = home_rooms(rows)
    return homes


def simulated_rooms(households: int, days: int, seed: int) -> RoomSilences:
    """The simulator's households as ``anbu bench quality`` makes them, pooled."""
    pooled = RoomSilences()
    for rows in simulated_rows(households, days, seed):
        pooled.merge(home_rooms(rows))
    return pooled


def table(columns: dict[str, RoomSilences]) -> str:
    """A markdown table: one row per column and room."""
    lines = [
        "| data | room | exposure h | silences >= 30 min | per exposure h | mean excess h "
        "| > 2 h |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rooms in columns.items():
        for r, f in rooms.figures().items():
            cells = [name, r] + ["-" if v is None else str(v) for v in f.values()]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (and JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, nargs="?")
    parser.add_argument("--simulated", type=int, default=0, help="simulated households")
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    columns: dict[str, RoomSilences] = {}
    if args.directory is not None:
        homes = real_rooms(args.directory)
        pooled = RoomSilences()
        for rooms in homes.values():
            pooled.merge(rooms)
        columns["real, pooled"] = pooled
        columns.update(homes)
    if args.simulated:
        columns["simulated"] = simulated_rooms(args.simulated, args.days, args.seed)
    if args.json:
        json.dump({k: v.figures() for k, v in columns.items()}, sys.stdout, indent=1)
        print()
    else:
        print(table(columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
