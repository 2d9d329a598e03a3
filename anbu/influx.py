"""A small client for InfluxDB's v1 HTTP API (``/write`` line protocol, ``/query`` InfluxQL).

InfluxDB 1.x serves only this API (Debian ships 1.6), and 2.x and 3.x serve it for
compatibility, so one client talks to all of them; ``influxdb-client`` speaks only v2.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from anbu.errors import AnbuError
from anbu.timeutil import to_utc


class InfluxError(AnbuError):
    """InfluxDB refused a request or could not be reached.

    Attributes:
        retryable: true when trying again later may succeed (unreachable, 5xx).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _escape_key(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", r"\,").replace(" ", r"\ ")


def _field_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point.

    Attributes:
        measurement: the measurement name.
        tags: indexed, low-cardinality labels (pseudonymous ids only, never personal data).
        fields: the values; at least one.
        time: aware timestamp; written with nanosecond precision in UTC.
    """

    measurement: str
    fields: Mapping[str, Any]
    time: datetime
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_line(self) -> str:
        """Render as one line of line protocol."""
        head = _escape_measurement(self.measurement)
        for key in sorted(self.tags):
            value = self.tags[key]
            if value is not None and value != "":
                head += f",{_escape_key(key)}={_escape_key(str(value))}"
        body = ",".join(
            f"{_escape_key(k)}={_field_value(v)}" for k, v in self.fields.items() if v is not None
        )
        utc = to_utc(self.time)
        nanos = int(utc.timestamp()) * 1_000_000_000 + utc.microsecond * 1000
        return f"{head} {body} {nanos}"


class InfluxClient:
    """Synchronous v1 API client.

    Args:
        url: base URL (``http://127.0.0.1:8086``).
        database: the database to write to and query.
        username: optional user (v1 auth, or a 2.x v1-compat user).
        password: optional password.
        timeout_s: per-request timeout.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        auth = {"u": username, "p": password} if username else {}
        self._auth = {k: v for k, v in auth.items() if v is not None}
        self._http = httpx.Client(timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: Any) -> InfluxClient:
        """Build a client from :class:`config.Settings`."""
        influx = settings.influx
        password = influx.password.get_secret_value() if influx.password else None
        return cls(
            influx.url,
            influx.database,
            username=influx.username,
            password=password,
            timeout_s=influx.timeout_s,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxError(f"InfluxDB at {self.url} unreachable: {exc}", retryable=True) from exc
        if response.status_code >= 300:
            raise InfluxError(
                f"InfluxDB {path} answered {response.status_code}: {response.text[:300]}",
                retryable=response.status_code >= 500,
            )
        return response

    def ping(self) -> bool:
        """Return whether InfluxDB answers."""
        try:
            self._request("GET", "/ping")
        except InfluxError:
            return False
        return True

    def create_database(self, retention: str | None = None) -> None:
        """Create the database if missing (idempotent)."""
        self.command(f'CREATE DATABASE "{self.database}"')
        if retention:
            self.command(
                f'ALTER RETENTION POLICY "autogen" ON "{self.database}" DURATION {retention}'
            )

    def command(self, influxql: str) -> list[dict[str, Any]]:
        """Run a statement that changes things (CREATE, DROP, ALTER) and return its results."""
        params = {"q": influxql, "db": self.database, **self._auth}
        body = self._request("POST", "/query", params=params).json()
        return self._check(body)

    def write_lines(self, lines: Iterable[str], *, retention_policy: str | None = None) -> None:
        """Write line-protocol lines (nanosecond precision)."""
        payload = "\n".join(lines)
        if not payload:
            return
        params = {"db": self.database, "precision": "ns", **self._auth}
        if retention_policy:
            params["rp"] = retention_policy
        self._request("POST", "/write", params=params, content=payload.encode())

    def write(self, points: Iterable[Point], *, retention_policy: str | None = None) -> None:
        """Write points."""
        self.write_lines((p.to_line() for p in points), retention_policy=retention_policy)

    def query(self, influxql: str, **bind: Any) -> list[dict[str, Any]]:
        """Run InfluxQL and return its series.

        Each series is ``{"name", "tags", "columns", "values"}`` with times as RFC 3339.
        Bind parameters (``$name``) are passed safely with ``params``.
        """
        params: dict[str, Any] = {"q": influxql, "db": self.database, **self._auth}
        if bind:
            params["params"] = json.dumps(bind)
        body = self._request("GET", "/query", params=params).json()
        series: list[dict[str, Any]] = []
        for result in self._check(body):
            series.extend(result.get("series", []))
        return series

    @staticmethod
    def _check(body: dict[str, Any]) -> list[dict[str, Any]]:
        if "error" in body:
            raise InfluxError(f"InfluxDB: {body['error']}", retryable=False)
        results: list[dict[str, Any]] = body.get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxError(f"InfluxDB: {result['error']}", retryable=False)
        return results


class BufferedWriter:
    """Keeps points in memory while InfluxDB is unreachable and writes them when it returns.

    Writes are in order; a batch that InfluxDB rejects as malformed (4xx) is dropped with
    the error kept in :attr:`rejected`, since retrying it can never succeed.

    Args:
        client: the InfluxDB client.
        max_points: most points kept; past that the oldest are dropped and counted.
    """

    def __init__(self, client: InfluxClient, max_points: int = 1_000_000) -> None:
        self.client = client
        self._pending: deque[str] = deque()
        self._lock = threading.Lock()
        # One flush at a time: two would write the same batch and pop it twice (seen: a
        # shutdown's last flush beside a periodic one still running in its thread).
        self._flushing = threading.Lock()
        self.max_points = max_points
        self.dropped = 0
        self.rejected: list[str] = []
        self.last_error: str | None = None

    def add(self, points: Iterable[Point]) -> None:
        """Queue points for the next :meth:`flush`."""
        with self._lock:
            for point in points:
                if len(self._pending) >= self.max_points:
                    self._pending.popleft()
                    self.dropped += 1
                self._pending.append(point.to_line())

    @property
    def pending(self) -> int:
        """Points waiting to be written."""
        return len(self._pending)

    def flush(self, batch_size: int = 5000) -> bool:
        """Write what is queued; return True if nothing is left pending.

        Safe to call from several threads: a second caller waits for the first.
        """
        with self._flushing:
            return self._flush(batch_size)

    def _flush(self, batch_size: int) -> bool:
        while True:
            with self._lock:
                batch = [self._pending[i] for i in range(min(batch_size, len(self._pending)))]
            if not batch:
                self.last_error = None
                return True
            try:
                self.client.write_lines(batch)
            except InfluxError as exc:
                self.last_error = str(exc)
                if exc.retryable:
                    return False
                self.rejected.append(str(exc))
            with self._lock:
                for _ in batch:
                    self._pending.popleft()
