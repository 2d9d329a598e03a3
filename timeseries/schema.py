"""The series anbu keeps in InfluxDB: names, retention policies and continuous queries.

Three retention policies hold everything:

- ``autogen`` (the database's default, shortened to ``series.recent_retention``, 35 days):
  what the writers write: ``activity_5m``, ``events_rate``, and the other packages'
  ``ingest_metrics`` and ``alert_events``.
- ``health`` (``series.health_retention``, 7 days): ``device_health``, a snapshot of every
  device every few minutes (the most voluminous series; only its newest point matters),
  with ``device_attention`` (the devices that need an installer) and ``device_summary``
  (counts per care center and dong): fleet-wide pages read those two, because a query
  over every device's series costs seconds at district scale.
- ``review`` (``series.review_retention``, 70 days): ``review_events``, the weekly review's
  input (docs/review.md): the device events the review core reads, plugs and repeated
  reports thinned to one per device and hour. The review compares a week with the eight
  before it, so it needs ten weeks of events, which ``activity_5m`` neither keeps (35
  days) nor holds (counts per 5 minutes cannot say whether the resident went out).
- ``rollup`` (``series.rollup_retention``, 400 days): what continuous queries derive from
  them: ``activity_1h``, ``events_rate_1h`` and ``alerts_1d``. Pages over long ranges read
  these, so a year of a district stays small and its queries fast (docs/dashboards.md has
  the sizing estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from anbu.events import EventKind
from anbu.influx import InfluxClient
from anbu.timeutil import to_utc

ACTIVITY = "activity_5m"
ACTIVITY_1H = "activity_1h"
DEVICE_HEALTH = "device_health"
DEVICE_ATTENTION = "device_attention"
DEVICE_SUMMARY = "device_summary"
SUMMARY_FIELDS = (
    "total", "online", "offline", "never_reported", "low_battery",
    *(f"battery_{decile}" for decile in range(10)),
)
"""Fields of ``device_summary``; ``battery_N`` counts devices at N*10 to N*10+9 %."""
EVENTS_RATE = "events_rate"
EVENTS_RATE_1H = "events_rate_1h"
ALERT_EVENTS = "alert_events"
ALERTS_1D = "alerts_1d"
INGEST_METRICS = "ingest_metrics"
SERIES_OFFSETS = "series_offsets"
SERIES_STATUS = "series_status"
"""The writer's own health at each flush: records not yet counted, totals, pending points."""
"""Kafka offsets whose events are counted, written with the counts (exactly-once resume)."""

ROLLUP_RP = "rollup"
HEALTH_RP = "health"
REVIEW_RP = "review"
REVIEW_EVENTS = "review_events"
REVIEW_EVENTS_FROM = f'"{REVIEW_RP}"."{REVIEW_EVENTS}"'
"""``FROM`` clause for the review's events (their own retention policy)."""
DEVICE_HEALTH_FROM = f'"{HEALTH_RP}"."{DEVICE_HEALTH}"'
"""``FROM`` clause for device health (it lives in its own retention policy)."""
DEVICE_ATTENTION_FROM = f'"{HEALTH_RP}"."{DEVICE_ATTENTION}"'
DEVICE_SUMMARY_FROM = f'"{HEALTH_RP}"."{DEVICE_SUMMARY}"'
BUCKET = timedelta(minutes=5)
RATE_BUCKET = timedelta(seconds=10)

ACTIVITY_KINDS: frozenset[EventKind] = frozenset(
    {
        EventKind.MOTION,
        EventKind.DOOR,
        EventKind.CONTACT,
        EventKind.PRESENCE,
        EventKind.POWER,
        EventKind.SWITCH,
        EventKind.ROBOT,
        EventKind.CHECKIN_ANSWER,
    }
)
"""Event kinds that show a person is up and about (counted in ``activity_5m``).

Power readings count only when they change (a plug reporting the same idle watts every
minute is not a person); see :class:`timeseries.rollup.SeriesRollup`.
"""

ALERT_STATES = ("open", "acknowledged", "resolved", "auto_resolved", "false_alarm", "escalated")


@dataclass(frozen=True, slots=True)
class ContinuousQuery:
    """A rollup kept up to date by InfluxDB and re-runnable by hand over a past range.

    Attributes:
        name: the CQ's name in InfluxDB.
        select: the ``SELECT ... INTO ... FROM ...`` without WHERE or GROUP BY.
        interval: the GROUP BY time() interval.
        group_by: the tags kept.
        resample_for: how far back each run recomputes, to take in late points.
    """

    name: str
    select: str
    interval: str
    group_by: str
    resample_for: str

    def create_statement(self, database: str) -> str:
        """``CREATE CONTINUOUS QUERY`` for ``database``."""
        return (
            f'CREATE CONTINUOUS QUERY "{self.name}" ON "{database}" '
            f"RESAMPLE EVERY {self.interval} FOR {self.resample_for} BEGIN "
            f"{self.select} GROUP BY time({self.interval}), {self.group_by} END"
        )

    def backfill_statement(self, start: datetime, end: datetime) -> str:
        """The same query over ``[start, end)``, for data written before the CQ ran."""
        return (
            f"{self.select} WHERE time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}' "
            f"GROUP BY time({self.interval}), {self.group_by}"
        )


CONTINUOUS_QUERIES: tuple[ContinuousQuery, ...] = (
    ContinuousQuery(
        "cq_activity_1h",
        f'SELECT sum("count") AS "count" INTO "{ROLLUP_RP}"."{ACTIVITY_1H}" FROM "{ACTIVITY}"',
        "1h",
        '"household", "kind"',
        "3h",
    ),
    ContinuousQuery(
        "cq_events_rate_1h",
        f'SELECT sum("count") AS "count" INTO "{ROLLUP_RP}"."{EVENTS_RATE_1H}" '
        f'FROM "{EVENTS_RATE}"',
        "1h",
        '"kind"',
        "3h",
    ),
    ContinuousQuery(
        "cq_alerts_1d",
        f'SELECT count("value") AS "count" INTO "{ROLLUP_RP}"."{ALERTS_1D}" FROM "{ALERT_EVENTS}"',
        "1d",
        '"care_center", "dong", "kind", "severity", "state"',
        "2d",
    ),
)


def _rfc3339(moment: datetime) -> str:
    return to_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def influx_duration(duration: timedelta) -> str:
    """Render a duration as InfluxQL (whole hours, at least one)."""
    hours = max(1, int(duration.total_seconds() // 3600))
    return f"{hours}h"


def ensure_schema(
    client: InfluxClient,
    *,
    recent_retention: timedelta = timedelta(days=35),
    rollup_retention: timedelta = timedelta(days=400),
    health_retention: timedelta = timedelta(days=7),
    review_retention: timedelta = timedelta(days=70),
) -> None:
    """Create the database, its retention policies and continuous queries (idempotent).

    Args:
        client: a client for the database to set up.
        recent_retention: how long the default policy keeps raw and 5-minute series.
        rollup_retention: how long the rollups are kept.
        health_retention: how long device-health snapshots are kept.
        review_retention: how long the weekly review's events are kept.
    """
    db = client.database
    client.create_database()
    client.command(
        f'ALTER RETENTION POLICY "autogen" ON "{db}" DURATION '
        f"{influx_duration(recent_retention)} SHARD DURATION 7d DEFAULT"
    )
    existing = {row[0] for row in _rows(client, f'SHOW RETENTION POLICIES ON "{db}"')}
    for name, keep, shard in (
        (ROLLUP_RP, rollup_retention, "7d"),
        (HEALTH_RP, health_retention, "1d"),
        (REVIEW_RP, review_retention, "7d"),
    ):
        verb = "ALTER" if name in existing else "CREATE"
        client.command(
            f'{verb} RETENTION POLICY "{name}" ON "{db}" DURATION {influx_duration(keep)} '
            f"{'' if verb == 'ALTER' else 'REPLICATION 1 '}SHARD DURATION {shard}"
        )
    have = {row[0] for row in _cq_rows(client, db)}
    for cq in CONTINUOUS_QUERIES:
        if cq.name not in have:
            client.command(cq.create_statement(db))


def backfill(client: InfluxClient, start: datetime, end: datetime) -> int:
    """Run every rollup over ``[start, end)``: after a restore, or for data written late.

    Returns:
        The number of rollup points written.
    """
    written = 0
    for cq in CONTINUOUS_QUERIES:
        for result in client.command(cq.backfill_statement(start, end)):
            for series in result.get("series", []):
                for row in series.get("values", []):
                    written += int(row[1])
    return written


def _rows(client: InfluxClient, statement: str) -> list[list[object]]:
    rows: list[list[object]] = []
    for series in client.query(statement):
        rows.extend(series.get("values", []))
    return rows


def _cq_rows(client: InfluxClient, database: str) -> list[list[object]]:
    for series in client.query("SHOW CONTINUOUS QUERIES"):
        if series.get("name") == database:
            return list(series.get("values", []) or [])
    return []
