"""Backtest: the detector core over recorded or simulated events, in event time.

Two ways in:

* :func:`run_backtest` for Python callers (the quality benchmark): model events in, alert
  events out; ``routine=False`` runs the fixed rule alone, for comparison.
* :func:`read_csv` + :func:`run_rows` for ``anbu backtest``: a CSV file with the header
  ``timestamp,household_id,device_id,kind,value``, parsed without building pydantic models
  so that the core runs as fast as the CPU allows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from anbu.events import AlertEvent, DeviceEvent, EventBatch, SosEvent
from anbu.registry_records import DeviceRecord, GatewayRecord, HouseholdRecord
from detectors.engine import Engine
from detectors.exceptions import BacktestInputError
from detectors.params import DetectorParams

CSV_HEADER = ("timestamp", "household_id", "device_id", "kind", "value")
CSV_KINDS = frozenset(
    {"motion", "door", "contact", "presence", "power", "button", "robot", "heartbeat"}
)
SOS_KIND = "sos"  # internal: a CSV ``button`` row with value 1

Row = tuple[float, str, str, str, float]
"""One parsed CSV row: (epoch seconds, household, device, kind, value)."""


@dataclass(frozen=True, slots=True)
class Registry:
    """What a registry file describes."""

    households: dict[str, HouseholdRecord]
    devices: list[DeviceRecord]
    gateways: list[GatewayRecord]


def make_engine(
    households: Mapping[str, HouseholdRecord] | Iterable[HouseholdRecord] | None = None,
    devices: Mapping[str, DeviceRecord] | Iterable[DeviceRecord] | None = None,
    gateways: Iterable[GatewayRecord] | None = None,
    *,
    routine: bool = True,
    params: DetectorParams | None = None,
) -> Engine:
    """An engine with the given registry applied."""
    base = params or DetectorParams()
    if not routine and base.routine_allowed:
        from dataclasses import replace

        base = replace(base, routine_allowed=False)
    engine = Engine(base)
    for record in _values(households):
        engine.apply_registry(record)
    for record in _values(devices):
        engine.apply_registry(record)
    for gateway in gateways or ():
        engine.apply_registry(gateway)
    return engine


def _values(items: Mapping[str, Any] | Iterable[Any] | None) -> Iterable[Any]:
    if items is None:
        return ()
    if isinstance(items, Mapping):
        return items.values()
    return items


def run_backtest(
    events: Iterable[DeviceEvent | SosEvent | EventBatch],
    households: Mapping[str, HouseholdRecord] | Iterable[HouseholdRecord] | None = None,
    devices: Mapping[str, DeviceRecord] | Iterable[DeviceRecord] | None = None,
    *,
    routine: bool = True,
    gateways: Iterable[GatewayRecord] | None = None,
    until: datetime | None = None,
    params: DetectorParams | None = None,
) -> list[AlertEvent]:
    """Run the detector core over time-ordered events and return every alert event.

    Args:
        events: device events and SOS events in event-time order (batches allowed).
        households: registry records by household id (or a list); others get defaults.
        devices: registry device records (their reporting intervals enable silence checks).
        routine: False runs the fixed N-hour rule only (the routine-aware detector off).
        gateways: registry gateway records (heartbeat intervals).
        until: advance the clock to this moment after the last event (deadlines before it
            fire even though no event follows).
        params: thresholds; default :class:`DetectorParams`.

    Returns:
        Alert events (raise, update, resolve) in the order the core produced them.
    """
    engine = make_engine(households, devices, gateways, routine=routine, params=params)
    out = engine.run(events)
    if until is not None:
        out += engine.advance(until.timestamp())
    return out


def parse_timestamp(text: str) -> float:
    """Epoch seconds from ISO 8601 with an offset, or from a number of epoch seconds.

    Raises:
        ValueError: not a timestamp, or an ISO time without an offset.
    """
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset (write e.g. +09:00 or Z)")
    return moment.timestamp()


def read_csv(path: Path, progress: Callable[[int], None] | None = None) -> list[Row]:
    """Parse a backtest CSV file into rows sorted by time.

    Args:
        path: the file.
        progress: called with the number of bytes read, now and then.

    Raises:
        BacktestInputError: a missing header, an unknown kind, a bad timestamp or value
            (the message names the line).
    """
    rows: list[Row] = []
    ordered = True
    last = float("-inf")
    with path.open(newline="", encoding="utf-8") as handle:
        consumed = 0

        def counted() -> Iterator[str]:
            # handle.tell() is refused while the csv reader iterates the file, so progress
            # counts characters read (equal to bytes for the ASCII of a backtest file).
            nonlocal consumed
            for text in handle:
                consumed += len(text)
                yield text

        reader = csv.reader(counted())
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != CSV_HEADER:
            raise BacktestInputError(
                str(path), 1, f"expected the header {','.join(CSV_HEADER)!r}, got {header!r}"
            )
        append = rows.append
        for line, record in enumerate(reader, start=2):
            if len(record) != 5:
                if not record:
                    continue
                raise BacktestInputError(str(path), line, f"expected 5 fields, got {len(record)}")
            ts, hid, dev, kind, value = record
            try:
                t = parse_timestamp(ts)
            except ValueError as exc:
                raise BacktestInputError(str(path), line, str(exc)) from None
            if kind not in CSV_KINDS:
                raise BacktestInputError(
                    str(path), line, f"unknown kind {kind!r}; use one of {sorted(CSV_KINDS)}"
                )
            try:
                v = float(value)
            except ValueError:
                raise BacktestInputError(str(path), line, f"value {value!r} is not a number") \
                    from None
            if not hid or not dev:
                raise BacktestInputError(str(path), line, "household_id and device_id are required")
            if kind == "button":
                if v < 0.5:
                    continue  # a release
                kind = SOS_KIND
            if t < last:
                ordered = False
            last = t
            append((t, hid, dev, kind, v))
            if progress is not None and line % 65536 == 0:
                progress(consumed)
    if not ordered:
        rows.sort(key=lambda r: r[0])  # stable: same-time rows keep file order
    return rows


def run_rows(
    engine: Engine,
    rows: Iterable[Row],
    progress: Callable[[int], None] | None = None,
) -> Iterator[AlertEvent]:
    """Feed parsed rows through ``engine`` in event time, yielding alert events."""
    advance = engine.advance
    observe = engine.observe
    queue = engine.queue
    done = 0
    for t, hid, dev, kind, value in rows:
        head = queue.peek()
        if head is not None and head <= t:
            yield from advance(t)
        if kind == SOS_KIND:
            alerts = engine.sos(hid, dev, "button", t)
        else:
            alerts = observe(hid, dev, kind, value, t)
        if alerts:
            yield from alerts
        done += 1
        if progress is not None and not done & 0xFFFF:
            progress(65536)
    if progress is not None:
        progress(done & 0xFFFF)


def load_registry(path: Path) -> Registry:
    """Read a registry file (YAML or JSON) of households, and optionally devices and gateways.

    Accepted shapes: ``{"households": [...], "devices": [...], "gateways": [...]}``, a list
    of households, or a mapping of household id to its settings. A household needs only
    ``household_id`` (the mapping key will do); ``care_center_id`` and ``dong`` default.

    Raises:
        BacktestInputError: unreadable file or invalid records.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BacktestInputError(str(path), None, f"cannot read registry: {exc}") from None
    households: list[Any]
    devices: list[Any] = []
    gateways: list[Any] = []
    if isinstance(data, dict) and "households" in data:
        households = _as_list(data.get("households"))
        devices = _as_list(data.get("devices"))
        gateways = _as_list(data.get("gateways"))
    elif isinstance(data, dict):
        households = [{"household_id": k, **(v or {})} for k, v in data.items()]
    elif isinstance(data, list):
        households = data
    else:
        raise BacktestInputError(str(path), None, "expected a mapping or a list of households")
    try:
        hh = {}
        for item in households:
            item = {"care_center_id": "backtest", "dong": "-", **item}
            record = HouseholdRecord.model_validate(item)
            hh[record.household_id] = record
        devs = [
            DeviceRecord.model_validate(
                {"source_format": "simulator", "mqtt_topic": f"backtest/{d.get('device_id')}",
                 **d}
            )
            for d in devices
        ]
        gws = [
            GatewayRecord.model_validate({"mqtt_username": g.get("gateway_id"), **g})
            for g in gateways
        ]
    except (ValidationError, TypeError) as exc:
        raise BacktestInputError(str(path), None, f"invalid registry record: {exc}") from None
    return Registry(hh, devs, gws)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [{"household_id": k, **(v or {})} for k, v in value.items()]
    return list(value)


def alert_line(alert: AlertEvent) -> str:
    """One JSON line for the backtest output (every field of the alert event)."""
    return json.dumps(alert.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
