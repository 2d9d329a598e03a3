"""What InfluxDB already holds for the series writer, written before by it or another.

Counts to add to, offsets to resume at, and the device health a partition's previous owner
wrote last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition

from anbu.influx import InfluxClient, InfluxError
from config import Settings
from timeseries.rollup import ActivityKey, DeviceHealth
from timeseries.schema import ACTIVITY, BUCKET, DEVICE_HEALTH_FROM, SERIES_OFFSETS

log = logging.getLogger(__name__)


def read_counts(client: InfluxClient, keys: list[ActivityKey]) -> dict[ActivityKey, int]:
    """Counts InfluxDB holds for the given (household, kind, bucket) keys."""
    wanted = set(keys)
    found: dict[ActivityKey, int] = {}
    households = sorted({k[0] for k in keys})
    start = min(k[2] for k in keys)
    end = max(k[2] for k in keys) + int(BUCKET.total_seconds())
    for i in range(0, len(households), 200):
        chunk = households[i : i + 200]
        names = " OR ".join(f"\"household\" = '{_quote(h)}'" for h in chunk)
        statement = (
            f'SELECT "count" FROM "{ACTIVITY}" WHERE ({names}) '
            f"AND time >= {start}s AND time < {end}s GROUP BY \"household\", \"kind\""
        )
        for series in client.query(statement + " tz('UTC')"):
            tags = series.get("tags", {})
            for stamp, count in series.get("values", []):
                when = _parse_time(stamp)
                key = (tags.get("household", ""), tags.get("kind", ""), when)
                if key in wanted and count is not None:
                    found[key] = int(count)
    return found


def read_offsets(client: InfluxClient, settings: Settings) -> dict[tuple[str, int], int]:
    """The newest offset per (topic, partition) whose counts are in InfluxDB."""
    group = _quote(settings.series.group_id)
    found: dict[tuple[str, int], int] = {}
    for series in client.query(
        f'SELECT last("offset") FROM "{SERIES_OFFSETS}" WHERE "group" = \'{group}\' '
        'GROUP BY "topic", "partition"'
    ):
        tags = series.get("tags", {})
        for _stamp, offset in series.get("values", []):
            if offset is not None:
                found[(tags.get("topic", ""), int(tags.get("partition", "0")))] = int(offset)
    return found


async def seek_past_stored(
    consumer: AIOKafkaConsumer,
    client: InfluxClient,
    settings: Settings,
    assigned: Collection[TopicPartition],
) -> None:
    """Seek ``assigned`` partitions past the offsets written beside the counts in InfluxDB.

    Kafka's committed offset can lag InfluxDB (a crash or rebalance between the write
    and the commit); the offsets written beside the counts cannot, so they win.
    """
    try:
        stored = await asyncio.to_thread(read_offsets, client, settings)
    except InfluxError as exc:
        log.warning("cannot read stored offsets, resuming from Kafka's: %s", exc)
        return
    for tp in assigned:
        offset = stored.get((tp.topic, tp.partition))
        if offset is None:
            continue
        committed = await consumer.committed(tp)
        if committed is None or offset > committed:
            consumer.seek(tp, offset)


def read_health(
    client: InfluxClient, partitions: Collection[int], within: timedelta
) -> list[DeviceHealth]:
    """The newest health written for the devices of ``partitions`` (by any writer).

    Args:
        client: the anbu database's.
        partitions: partitions of ``anbu.events`` (the ``partition`` tag of the snapshots).
        within: how far back to look (the health retention).

    Returns:
        One entry per device; ``last_seen``, ``battery`` and ``linkquality`` are each the
        newest written (a device's snapshots keep them once known).
    """
    if not partitions:
        return []
    names = " OR ".join(f"\"partition\" = '{p}'" for p in sorted(partitions))
    found: dict[str, DeviceHealth] = {}
    for series in client.query(
        'SELECT last("last_seen") AS "last_seen", last("battery") AS "battery", '
        'last("linkquality") AS "linkquality", last("available") AS "available" '
        f"FROM {DEVICE_HEALTH_FROM} WHERE ({names}) "
        f"AND time > now() - {int(within.total_seconds())}s "
        'GROUP BY "device", "household", "kind"'
    ):
        tags = series.get("tags", {})
        for values in series.get("values", []):
            row = dict(zip(series.get("columns", []), values, strict=False))
            health = DeviceHealth(
                tags.get("household", ""), tags.get("device", ""), tags.get("kind", ""),
                last_seen=row.get("last_seen"), battery=row.get("battery"),
                linkquality=row.get("linkquality"),
                available=row.get("available") is not False,
            )
            known = found.get(health.device_id)
            # a device moved to another household has a series for each: the newer wins
            if known is None or (health.last_seen or 0) > (known.last_seen or 0):
                found[health.device_id] = health
    return list(found.values())


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _parse_time(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
