"""The InfluxQL behind every dashboard, returning plain data the pages and the API share.

Charts get one value per step of the range (``fill(0)`` where zero is the truth, as for
counts), so the x axis never skips silent hours: a gap in a household's activity is the
thing an operator is looking for, and must not be drawn over.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from anbu.influx import InfluxClient, InfluxError
from anbu.timeutil import utcnow
from timeseries.schema import (
    ACTIVITY,
    ACTIVITY_1H,
    ALERT_EVENTS,
    ALERTS_1D,
    DEVICE_ATTENTION_FROM,
    DEVICE_HEALTH_FROM,
    DEVICE_SUMMARY_FROM,
    EVENTS_RATE,
    EVENTS_RATE_1H,
    INGEST_METRICS,
    ROLLUP_RP,
    SERIES_STATUS,
    SUMMARY_FIELDS,
)
from web.dashboards.device_rows import (
    DeviceRow,
    attention_order,
    device_rows,
    epoch,
    newest_per_partition,
    tag_of,
)
from web.dashboards.exceptions import SeriesUnavailableError
from web.dashboards.timerange import TimeRange

# history labels after which an alert is still active (a check-in request or a visit noted
# on it leaves it open; only a closing label ends it); visits are not written to InfluxDB
OPEN_STATES = frozenset({"open", "acknowledged", "escalated", "checkin_requested"})
ACTIVITY_KIND_ORDER = (
    "motion",
    "door",
    "contact",
    "presence",
    "power",
    "switch",
    "robot",
    "checkin_answer",
)
__all__ = [
    "ACTIVITY_KIND_ORDER", "OPEN_STATES", "DashboardQueries", "DeviceRow", "attention_order",
    "valid_id",
]

_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")


def valid_id(text: str) -> bool:
    """Whether ``text`` looks like a pseudonymous id (and is safe to put in a query)."""
    return bool(_ID_RE.match(text))


def _lit(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DashboardQueries:
    """Queries for the overview, household and devices pages.

    Args:
        client: InfluxDB client for the anbu database.
        health_lookback: how far back the newest health snapshot is looked for.
        recent_retention: how long 5-minute series are kept; older ranges read the rollups.
    """

    def __init__(
        self,
        client: InfluxClient,
        *,
        health_lookback: timedelta = timedelta(minutes=15),
        recent_retention: timedelta = timedelta(days=35),
    ) -> None:
        self.client = client
        self.health_lookback = health_lookback
        self.recent_retention = recent_retention

    def _query(self, statement: str) -> list[dict[str, Any]]:
        try:
            return self.client.query(statement)
        except InfluxError as exc:
            raise SeriesUnavailableError(f"InfluxDB could not answer: {exc}") from exc

    def _uses_rollup(self, tr: TimeRange) -> bool:
        return tr.start < utcnow() - self.recent_retention + timedelta(hours=1)

    @staticmethod
    def _align(tr: TimeRange, series: Iterable[dict[str, Any]], scale: float = 1.0) -> list[float]:
        values: dict[int, float] = {}
        for one in series:
            for stamp, value in one.get("values", []):
                if value is not None:
                    key = epoch(stamp)
                    values[key] = values.get(key, 0.0) + float(value) * scale
        return [round(values.get(t, 0.0), 4) for t in tr.ticks()]

    # -- overview -----------------------------------------------------------------------

    def events_rate(self, tr: TimeRange) -> dict[str, Any]:
        """Events per second, averaged over each step, with the newest minute's rate."""
        source = (
            f'"{ROLLUP_RP}"."{EVENTS_RATE_1H}"' if self._uses_rollup(tr) else f'"{EVENTS_RATE}"'
        )
        step_s = tr.step.total_seconds()
        series = self._query(
            f'SELECT sum("count") FROM {source} WHERE {tr.influx_where()} '
            f"GROUP BY {tr.group_by_time()} fill(0)"
        )
        latest = self._query(
            f'SELECT sum("count") FROM "{EVENTS_RATE}" WHERE time > now() - 70s '
            "AND time <= now() - 10s"
        )
        current = 0.0
        for one in latest:
            for _stamp, value in one.get("values", []):
                current = float(value or 0) / 60.0
        return {
            "t": tr.ticks(),
            "rate": self._align(tr, series, 1.0 / step_s),
            "current": round(current, 2),
        }

    def ingest_outcomes(self, tr: TimeRange) -> dict[str, Any]:
        """Messages the bridge handled per step, by outcome (``ingest_metrics``)."""
        series = self._query(
            f'SELECT sum("count") FROM "{INGEST_METRICS}" WHERE {tr.influx_where()} '
            f'GROUP BY {tr.group_by_time()}, "outcome" fill(0)'
        )
        by_outcome: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for one in series:
            by_outcome[one.get("tags", {}).get("outcome", "?")].append(one)
        return {
            "t": tr.ticks(),
            "series": {name: self._align(tr, rows) for name, rows in sorted(by_outcome.items())},
        }

    def open_alerts(self, centers: set[str] | None = None) -> dict[str, Any]:
        """Alerts whose newest entry leaves them active (not closed), by dong and center.

        Alerts are kept open at most the recent retention; the newest state change of each
        alert within it decides.
        """
        series = self._query(
            f'SELECT "alert_id" FROM "{ALERT_EVENTS}" WHERE time > now() - '
            f"{int(self.recent_retention.total_seconds())}s "
            'GROUP BY "care_center", "dong", "kind", "state"'
        )
        newest: dict[str, tuple[int, dict[str, str]]] = {}
        for one in series:
            tags = one.get("tags", {})
            for stamp, alert_id in one.get("values", []):
                when = epoch(stamp)
                if alert_id is None:
                    continue
                known = newest.get(alert_id)
                if known is None or when >= known[0]:
                    newest[alert_id] = (when, tags)
        by_dong: dict[str, int] = defaultdict(int)
        by_center: dict[str, int] = defaultdict(int)
        by_kind: dict[str, int] = defaultdict(int)
        for _when, tags in newest.values():
            if tags.get("state") not in OPEN_STATES:
                continue
            if centers is not None and tags.get("care_center") not in centers:
                continue
            by_dong[tags.get("dong") or "?"] += 1
            by_center[tags.get("care_center") or "?"] += 1
            by_kind[tags.get("kind") or "?"] += 1

        def rows(counts: dict[str, int], key: str) -> list[dict[str, Any]]:
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            return [{key: name, "count": count} for name, count in ordered]

        return {
            "total": sum(by_center.values()),
            "by_dong": rows(by_dong, "dong"),
            "by_center": rows(by_center, "care_center"),
            "by_kind": rows(by_kind, "kind"),
        }

    def alerts_per_day(self, tr: TimeRange, centers: set[str] | None = None) -> dict[str, Any]:
        """New alerts per Seoul calendar day, by severity."""
        day = TimeRange(tr.start, tr.end, timedelta(days=1), tr.preset)
        scope = ""
        if centers is not None:
            if not centers:
                return {"t": [], "series": {}}
            scope = " AND (" + " OR ".join(f'"care_center" = {_lit(c)}' for c in centers) + ")"
        if self._uses_rollup(tr):
            statement = (
                f'SELECT sum("count") FROM "{ROLLUP_RP}"."{ALERTS_1D}" WHERE "state" = \'open\' '
                f"AND {day.influx_where()}{scope} GROUP BY time(1d), \"severity\" fill(0) "
                "tz('Asia/Seoul')"
            )
        else:
            statement = (
                f'SELECT count(distinct("alert_id")) FROM "{ALERT_EVENTS}" '
                f"WHERE \"state\" = 'open' AND {day.influx_where()}{scope} "
                "GROUP BY time(1d), \"severity\" fill(0) tz('Asia/Seoul')"
            )
        series = self._query(statement)
        days: set[int] = set()
        counts: dict[str, dict[int, float]] = defaultdict(dict)
        for one in series:
            severity = one.get("tags", {}).get("severity", "?")
            for stamp, value in one.get("values", []):
                when = epoch(stamp)
                days.add(when)
                counts[severity][when] = float(value or 0)
        ticks = sorted(days)
        return {
            "t": ticks,
            "series": {
                sev: [counts[sev].get(t, 0.0) for t in ticks]
                for sev in ("critical", "high", "warning", "info")
                if sev in counts
            },
        }

    def series_status(self) -> dict[str, Any]:
        """The series writer's newest status: when it last wrote and how far behind it is.

        ``as_of`` None means it has not written for five minutes: the pages warn that
        what they show may be stale.
        """
        series = self._query(
            f'SELECT last("behind_records") AS "behind_records" FROM "{SERIES_STATUS}" '
            "WHERE time > now() - 5m"
        )
        for one in series:
            for stamp, behind in one.get("values", []):
                return {"as_of": epoch(stamp), "behind_records": int(behind or 0)}
        return {"as_of": None, "behind_records": None}

    # -- devices ------------------------------------------------------------------------

    def device_summary(self, centers: set[str] | None = None) -> dict[str, Any]:
        """Device counts of the newest complete health snapshot (``device_summary``).

        Several series writers each snapshot the devices of their partitions (tag
        ``partition``): the newest snapshot of each partition is summed, so a device is
        counted once whichever writer owns it now. ``as_of`` is the oldest of those
        snapshots' times (epoch s; ``snapshots`` has each), None when there is none recent.
        ``offline`` counts every device not online, as the series writer does; ``silent``
        only those that reported and then went quiet. A device that has not reported yet
        (just installed, or the stack just started) is not "unresponsive": pages show it
        apart, as ``never_reported``.
        """
        series = self._query(
            f"SELECT * FROM {DEVICE_SUMMARY_FROM} "
            f"WHERE time > now() - {int(self.health_lookback.total_seconds())}s"
        )
        rows = [
            dict(zip(one.get("columns", []), values, strict=False))
            for one in series
            for values in one.get("values", [])
        ]
        snapshots = newest_per_partition(rows)
        totals = dict.fromkeys(SUMMARY_FIELDS, 0)
        for row in rows:
            if snapshots.get(row.get("partition") or "") != epoch(row["time"]):
                continue
            if centers is not None and row.get("care_center") not in centers:
                continue
            for name in SUMMARY_FIELDS:
                totals[name] += int(row.get(name) or 0)
        return {
            "total": totals["total"],
            "online": totals["online"],
            "offline": totals["offline"],
            "silent": max(0, totals["offline"] - totals["never_reported"]),
            "never_reported": totals["never_reported"],
            "low_battery": totals["low_battery"],
            "battery": [totals[f"battery_{d}"] for d in range(10)],
            "as_of": min(snapshots.values(), default=None),
            "snapshots": snapshots,
        }

    def attention(
        self, as_of: int | None, centers: set[str] | None = None,
        snapshots: dict[str, int] | None = None,
    ) -> list[DeviceRow]:
        """Devices that need an installer, most urgent first.

        Args:
            as_of: the snapshot's time (one writer's snapshot, untagged).
            centers: only these care centers' devices.
            snapshots: the newest snapshot's time per partition (``device_summary``'s), in
                place of ``as_of``: each partition's devices are read at its time.
        """
        if as_of is None:
            return []
        series = self._query(f"SELECT * FROM {DEVICE_ATTENTION_FROM} WHERE time >= {as_of}s")
        wanted = snapshots if snapshots is not None else {"": as_of}
        kept = [
            {**one, "values": [
                values for values in one.get("values", [])
                if wanted.get(tag_of(one, values, "partition")) == epoch(
                    tag_of(one, values, "time"))
            ]}
            for one in series
        ]
        return device_rows(kept, centers)

    def device_health(self, household: str) -> list[DeviceRow]:
        """The household's devices' newest health, silent and low-battery devices first."""
        series = self._query(
            f"SELECT * FROM {DEVICE_HEALTH_FROM} WHERE \"household\" = {_lit(household)} "
            f"AND time > now() - {int(self.health_lookback.total_seconds())}s"
        )
        return device_rows(series, None)

    # -- household ----------------------------------------------------------------------

    def household_activity(self, household: str, tr: TimeRange) -> dict[str, Any]:
        """Activity counts per step, one series per device kind that was active."""
        if self._uses_rollup(tr):
            source = f'"{ROLLUP_RP}"."{ACTIVITY_1H}"'
        else:
            source = f'"{ACTIVITY}"'
        series = self._query(
            f'SELECT sum("count") FROM {source} WHERE "household" = {_lit(household)} '
            f'AND {tr.influx_where()} GROUP BY {tr.group_by_time()}, "kind" fill(0)'
        )
        by_kind: dict[str, list[float]] = {}
        for one in series:
            kind = one.get("tags", {}).get("kind", "?")
            by_kind[kind] = self._align(tr, [one])
        order = {k: i for i, k in enumerate(ACTIVITY_KIND_ORDER)}
        kinds = sorted(by_kind, key=lambda k: (order.get(k, 99), k))
        return {
            "t": tr.ticks(),
            "step_s": int(tr.step.total_seconds()),
            "series": {k: by_kind[k] for k in kinds},
            "total": int(sum(sum(v) for v in by_kind.values())),
        }

    def household_alerts(self, household: str, tr: TimeRange) -> list[dict[str, Any]]:
        """Every alert state change of the household in the range, oldest first."""
        series = self._query(
            f'SELECT "alert_id", "actor", "note" FROM "{ALERT_EVENTS}" '
            f'WHERE "household" = {_lit(household)} AND {tr.influx_where()} '
            'GROUP BY "kind", "severity", "state", "care_center", "dong"'
        )
        marks = []
        for one in series:
            tags = one.get("tags", {})
            for stamp, alert_id, actor, note in one.get("values", []):
                marks.append(
                    {
                        "t": epoch(stamp),
                        "alert_id": alert_id,
                        "kind": tags.get("kind"),
                        "severity": tags.get("severity"),
                        "state": tags.get("state"),
                        "actor": actor,
                        "note": note,
                    }
                )
        marks.sort(key=lambda m: (m["t"], m["alert_id"] or ""))
        return marks
