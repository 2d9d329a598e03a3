"""The bridge's counters: served as Prometheus text on ``/metrics`` and written to InfluxDB.

Counts are cumulative since the bridge process started (Prometheus counter semantics). In
InfluxDB they are measurement ``ingest_metrics`` with tags ``source_format``, ``outcome``
and ``bridge`` (the bridge's client id) and integer field ``count``; take
``non_negative_difference`` per bridge for per-interval rates (a restart resets to 0).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from anbu.influx import BufferedWriter, InfluxClient, InfluxError, Point
from anbu.timeutil import utcnow
from config import Settings
from ingest.normalise import Result
from ingest.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)

MEASUREMENT = "ingest_metrics"
UNREGISTERED_MEASUREMENT = "ingest_unregistered"
OVERFLOW_LABEL = "other"


def outcomes_of(result: Result) -> list[tuple[str, int]]:
    """The (outcome, count) pairs a result adds: ``event``, ``sos``, ``deadletter_<reason>``."""
    pairs: list[tuple[str, int]] = []
    if result.events:
        pairs.append(("event", len(result.events)))
    if result.sos:
        pairs.append(("sos", len(result.sos)))
    if result.dead_letter is not None:
        pairs.append((f"deadletter_{result.dead_letter.reason}", 1))
    if result.ignored is not None:
        pairs.append((f"ignored_{result.ignored}", 1))
    return pairs


class IngestMetrics(Collector):
    """Thread-safe counters of what the bridge did.

    Args:
        bridge_id: this bridge's client id (a tag in InfluxDB).
        max_unregistered_labels: distinct unregistered gateways/prefixes tracked; the rest
            are counted under ``other`` (a flood of random topics must not exhaust memory).
    """

    def __init__(self, bridge_id: str, max_unregistered_labels: int = 1000) -> None:
        self.bridge_id = bridge_id
        self.max_unregistered_labels = max_unregistered_labels
        self._lock = threading.Lock()
        self.outcomes: dict[tuple[str, str], int] = {}
        self.unregistered: dict[str, int] = {}
        self.messages = 0
        self.acked = 0
        self.kafka_errors = 0
        self.registry_devices = 0

    def record(self, result: Result) -> None:
        """Count one normalised message."""
        with self._lock:
            self.messages += 1
            for outcome, count in outcomes_of(result):
                key = (result.source_format, outcome)
                self.outcomes[key] = self.outcomes.get(key, 0) + count
            label = result.unregistered_label
            if label is not None:
                if label not in self.unregistered and (
                    len(self.unregistered) >= self.max_unregistered_labels
                ):
                    label = OVERFLOW_LABEL
                self.unregistered[label] = self.unregistered.get(label, 0) + 1

    def add_acked(self, count: int = 1) -> None:
        """Count MQTT messages acknowledged after Kafka confirmed them."""
        with self._lock:
            self.acked += count

    def add_kafka_error(self) -> None:
        """Count a failed Kafka send (it is retried)."""
        with self._lock:
            self.kafka_errors += 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Prometheus collector protocol."""
        with self._lock:
            outcomes = dict(self.outcomes)
            unregistered = dict(self.unregistered)
            scalars = (self.messages, self.acked, self.kafka_errors)
            gauges = (self.messages - self.acked, self.registry_devices)
        family = CounterMetricFamily(
            "anbu_ingest_outcomes",
            "Events, SOS, dead letters (by reason) and ignored messages, by source format.",
            labels=["source_format", "outcome"],
        )
        for (fmt, outcome), count in sorted(outcomes.items()):
            family.add_metric([fmt, outcome], count)
        yield family
        unreg = CounterMetricFamily(
            "anbu_ingest_unregistered",
            "Messages on topics no registered device owns, by gateway or topic prefix.",
            labels=["where"],
        )
        for label, count in sorted(unregistered.items()):
            unreg.add_metric([label], count)
        yield unreg
        for name, help_text, value in zip(
            ("anbu_ingest_mqtt_messages", "anbu_ingest_acked", "anbu_ingest_kafka_errors"),
            (
                "MQTT messages received.",
                "MQTT messages acknowledged after Kafka confirmed their records.",
                "Kafka sends that failed and were retried.",
            ),
            scalars,
            strict=True,
        ):
            counter = CounterMetricFamily(name, help_text)
            counter.add_metric([], value)
            yield counter
        in_flight = GaugeMetricFamily(
            "anbu_ingest_in_flight", "MQTT messages received but not yet acknowledged."
        )
        in_flight.add_metric([], gauges[0])
        yield in_flight
        devices = GaugeMetricFamily("anbu_ingest_registry_devices", "Devices in the cache.")
        devices.add_metric([], gauges[1])
        yield devices

    def points(self, now: datetime) -> list[Point]:
        """The cumulative counts as InfluxDB points."""
        with self._lock:
            outcomes = dict(self.outcomes)
            unregistered = dict(self.unregistered)
        points = [
            Point(
                MEASUREMENT,
                {"count": count},
                now,
                {"source_format": fmt, "outcome": outcome, "bridge": self.bridge_id},
            )
            for (fmt, outcome), count in outcomes.items()
        ]
        for label, count in unregistered.items():
            kind, _, where = label.partition(":")
            tags = {"bridge": self.bridge_id, kind or "where": where or label}
            points.append(Point(UNREGISTERED_MEASUREMENT, {"count": count}, now, tags))
        return points


class MetricsOutlet:
    """Where a bridge's counters go: ``/metrics`` and InfluxDB every ``ingest.metrics_flush``.

    Args:
        settings: anbu settings (``ingest.metrics_host``, ``metrics_port``, ``metrics_flush``).
        metrics: the bridge's counters.
        serve: serve ``/metrics``.
        write_influx: write the counters to InfluxDB.
    """

    def __init__(
        self, settings: Settings, metrics: IngestMetrics, *, serve: bool, write_influx: bool
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.serve = serve
        self.write_influx = write_influx
        self._log = RateLimitedLog(log, settings.ingest.log_every.total_seconds())
        self._http: Any = None
        self._writer: threading.Thread | None = None

    def start_serving(self) -> None:
        """Serve ``/metrics`` (if asked to)."""
        if not self.serve:
            return
        registry = CollectorRegistry()
        registry.register(self.metrics)
        host, port = self.settings.ingest.metrics_host, self.settings.ingest.metrics_port
        self._http, _ = start_http_server(port, host, registry)
        log.info("metrics on http://%s:%d/metrics", host, port)

    def start_writing(self, stopping: threading.Event) -> None:
        """Write to InfluxDB (if asked to) until ``stopping`` is set, then once more."""
        if not self.write_influx:
            return
        self._writer = threading.Thread(
            target=self._write, args=(stopping,), name="influx-metrics", daemon=True
        )
        self._writer.start()

    def stop_serving(self) -> None:
        """Stop serving ``/metrics``."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def join(self, timeout_s: float) -> None:
        """Wait for the last InfluxDB write (after ``stopping`` was set)."""
        if self._writer is not None:
            self._writer.join(timeout_s)

    def _write(self, stopping: threading.Event) -> None:
        client = InfluxClient.from_settings(self.settings)
        writer = BufferedWriter(client, max_points=100_000)
        try:
            client.create_database()
        except InfluxError as exc:
            self._log.warning("influx", "InfluxDB database not created: %s", exc)
        interval = self.settings.ingest.metrics_flush.total_seconds()
        while True:
            stop = stopping.wait(interval)
            writer.add(self.metrics.points(utcnow()))
            if not writer.flush() and writer.last_error:
                self._log.warning("influx", "InfluxDB write failed: %s", writer.last_error)
            if stop:
                break
        client.close()
