"""Retention policies and rollups in the real InfluxDB: a year stays bounded and fast."""

from __future__ import annotations

from datetime import timedelta

from anbu.influx import InfluxClient, Point
from anbu.timeutil import from_epoch, utcnow
from config import Settings
from timeseries.rollup import bucket_start
from timeseries.schema import CONTINUOUS_QUERIES, backfill, ensure_schema


def test_schema_sets_retention_and_rollups_idempotently(settings: Settings) -> None:
    client = InfluxClient.from_settings(settings)
    for _ in range(2):  # a second start must change nothing and fail on nothing
        ensure_schema(client, recent_retention=timedelta(days=35),
                      rollup_retention=timedelta(days=400))
    policies = {
        row[0]: row for s in client.query(f'SHOW RETENTION POLICIES ON "{client.database}"')
        for row in s["values"]
    }
    assert policies["autogen"][1] == "840h0m0s" and policies["autogen"][4] is True
    assert policies["rollup"][1] == "9600h0m0s"
    assert policies["health"][1] == "168h0m0s"
    assert policies["review"][1] == "1680h0m0s"  # ten weeks: a week and the eight before it
    names = {
        row[0] for s in client.query("SHOW CONTINUOUS QUERIES")
        if s["name"] == client.database for row in s.get("values") or []
    }
    assert names == {cq.name for cq in CONTINUOUS_QUERIES}


def test_backfill_rolls_5_minute_activity_into_hours(settings: Settings) -> None:
    client = InfluxClient.from_settings(settings)
    ensure_schema(client)
    hour = bucket_start(utcnow() - timedelta(days=2), timedelta(hours=1))
    client.write(
        Point("activity_5m", {"count": n}, from_epoch(hour + i * 300),
              {"household": "hh-a", "kind": "motion"})
        for i, n in enumerate([1, 2, 3, 4])
    )
    client.write([Point("activity_5m", {"count": 7}, from_epoch(hour + 3600),
                        {"household": "hh-a", "kind": "door"})])
    assert backfill(client, from_epoch(hour - 3600), from_epoch(hour + 7200)) >= 2
    rows = client.query(
        'SELECT "count" FROM "rollup"."activity_1h" GROUP BY "household", "kind"'
    )
    got = {(s["tags"]["household"], s["tags"]["kind"]): s["values"] for s in rows}
    assert [v[1] for v in got[("hh-a", "motion")]] == [10]
    assert [v[1] for v in got[("hh-a", "door")]] == [7]
