"""Device health as the pages show it, read from InfluxDB's answers.

:class:`DeviceRow` is one device's newest health; :func:`device_rows` makes them from a
health query's series, most urgent first (:func:`attention_order`). The helpers that read
an answer's rows (times, tags, the newest snapshot of each partition) are here too, and
:mod:`web.dashboards.queries` uses them for every chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anbu.timeutil import utcnow


def tag_of(series: dict[str, Any], values: list[Any], name: str) -> str:
    """A column of one row of a query's ``series`` ("" when absent or null)."""
    columns = series.get("columns", [])
    value = values[columns.index(name)] if name in columns else None
    return "" if value is None else str(value)


def newest_per_partition(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The newest snapshot time of each partition among health ``rows``.

    Rows without a ``partition`` (written by a single writer before snapshots were split
    by partition) count only when no partitioned snapshot is there.
    """
    newest: dict[str, int] = {}
    for row in rows:
        part = row.get("partition") or ""
        newest[part] = max(newest.get(part, 0), epoch(row["time"]))
    if len(newest) > 1:
        newest.pop("", None)
    return newest


def epoch(stamp: Any) -> int:
    """An InfluxDB time (epoch seconds, or RFC 3339 text) in epoch seconds."""
    if isinstance(stamp, int | float):
        return int(stamp)
    return int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp())


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One device's newest health, as the pages show it."""

    device_id: str
    household_id: str
    kind: str
    room: str | None
    dong: str | None
    care_center: str | None
    online: bool
    last_seen: int | None
    silent_s: int | None
    battery: float | None
    linkquality: float | None
    low_battery: bool
    reporting_interval_s: int
    snapshot_time: int

    @property
    def overdue(self) -> bool:
        """Silent past its reporting interval, or never reported."""
        return self.silent_s is None or self.silent_s > self.reporting_interval_s

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "device_id": self.device_id,
            "household_id": self.household_id,
            "kind": self.kind,
            "room": self.room,
            "dong": self.dong,
            "care_center": self.care_center,
            "online": self.online,
            "last_seen": self.last_seen,
            "silent_s": self.silent_s,
            "battery": self.battery,
            "linkquality": self.linkquality,
            "low_battery": self.low_battery,
            "overdue": self.overdue,
            "reporting_interval_s": self.reporting_interval_s,
        }


def attention_order(row: DeviceRow) -> tuple[int, float, str]:
    """Sort key for installers' rounds.

    Never-reported and silent devices first (longest silence first), then low batteries
    (emptiest first), then the rest.
    """
    if row.silent_s is None:
        return (0, 0.0, row.device_id)
    if row.overdue or not row.online:
        return (1, -float(row.silent_s), row.device_id)
    if row.low_battery:
        return (2, row.battery if row.battery is not None else 0.0, row.device_id)
    return (3, 0.0, row.device_id)


def device_rows(series: list[dict[str, Any]], centers: set[str] | None) -> list[DeviceRow]:
    """The newest row of each device in a health query's ``series``, most urgent first."""
    newest: dict[str, dict[str, Any]] = {}
    for one in series:
        columns = one.get("columns", [])
        for values in one.get("values", []):
            row = dict(zip(columns, values, strict=False))
            device = row.get("device")
            if device is None:
                continue
            row["time"] = epoch(row["time"])
            known = newest.get(device)
            if known is None or row["time"] >= known["time"]:
                newest[device] = row
    now = utcnow().timestamp()
    rows = []
    for device, row in newest.items():
        if centers is not None and row.get("care_center") not in centers:
            continue
        last_seen = int(row["last_seen"]) if row.get("last_seen") is not None else None
        rows.append(
            DeviceRow(
                device_id=device,
                household_id=row.get("household") or "?",
                kind=row.get("kind") or "?",
                room=row.get("room"),
                dong=row.get("dong"),
                care_center=row.get("care_center"),
                online=bool(row.get("online")),
                last_seen=last_seen,
                # Silence grows between snapshots: count it up to now.
                silent_s=max(0, int(now - last_seen)) if last_seen is not None else None,
                battery=row.get("battery"),
                linkquality=row.get("linkquality"),
                low_battery=bool(row.get("low_battery")),
                reporting_interval_s=int(row.get("reporting_interval_s") or 3600),
                snapshot_time=row["time"],
            )
        )
    rows.sort(key=attention_order)
    return rows
