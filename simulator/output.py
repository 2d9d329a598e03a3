"""Files for ``anbu backtest``: events CSV, ground truth and registry.

* ``events.csv``: ``timestamp,household_id,device_id,kind,value`` with ISO 8601 times in
  Seoul time with their offset (``2026-01-05T07:12:03.120+09:00``).
* ``ground_truth.json`` (and ``.csv``): one row per incident: household, kind, start, end,
  registered_away, device_id.
* ``registry.json``: ``{"centers": [...], "households": [...], "gateways": [...],
  "devices": [...]}``; each entry is a registry record as published on ``anbu.registry``
  (``anbu.registry_records.parse_registry_record`` reads any of them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

from anbu.timeutil import SEOUL, from_epoch
from simulator.model import Incident, SimEvent
from simulator.world import Simulation

CSV_HEADER = ("timestamp", "household_id", "device_id", "kind", "value")
CSV_KINDS = frozenset(
    {"motion", "door", "contact", "presence", "power", "button", "robot", "heartbeat"}
)
"""What the backtest CSV carries (battery levels travel only over MQTT)."""
_GROUPS = {
    "center": "centers",
    "household": "households",
    "gateway": "gateways",
    "device": "devices",
}


def format_value(value: float) -> str:
    """``1``/``0`` for binary values, watts with at most one decimal otherwise."""
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def write_events_csv(events: Iterable[SimEvent], path: Path) -> int:
    """Write events as the backtest CSV; return how many were written."""
    count = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for e in events:
            if e.kind not in CSV_KINDS:
                continue
            moment = from_epoch(e.t).astimezone(SEOUL).isoformat(timespec="milliseconds")
            writer.writerow((moment, e.household_id, e.device_id, e.kind, format_value(e.value)))
            count += 1
    return count


def write_ground_truth(incidents: list[Incident], directory: Path) -> tuple[Path, Path]:
    """Write the ground truth as JSON and CSV; return both paths."""
    rows = [i.as_row() for i in incidents]
    json_path = directory / "ground_truth.json"
    json_path.write_text(json.dumps(rows, indent=1) + "\n")
    csv_path = directory / "ground_truth.csv"
    with csv_path.open("w", newline="") as handle:
        fields = ["household_id", "kind", "start", "end", "registered_away", "device_id"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def write_registry(simulation: Simulation, path: Path) -> None:
    """Write the simulated households' registry records as JSON."""
    grouped: dict[str, list[object]] = {group: [] for group in _GROUPS.values()}
    for record in simulation.registry_records():
        grouped[_GROUPS[record.type]].append(record.model_dump(mode="json", exclude_none=True))
    path.write_text(json.dumps(grouped, indent=1, ensure_ascii=False) + "\n")
