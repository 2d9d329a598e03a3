"""What InfluxDB already holds for the series writer: counts to add to, offsets to resume at."""

from __future__ import annotations

from datetime import datetime

from anbu.influx import InfluxClient
from config import Settings
from timeseries.rollup import ActivityKey
from timeseries.schema import ACTIVITY, BUCKET, SERIES_OFFSETS


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


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _parse_time(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
