"""Prometheus metrics of the alerts service (served on ``alerts.metrics_port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter(
    "anbu_alerts_detector_events_total",
    "Detector events consumed, by action and outcome (created, updated, closed, duplicate, "
    "ignored, invalid).",
    ["action", "outcome"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "anbu_alerts_notifications_total",
    "Notification deliveries by channel and outcome (sent, failed: gave up).",
    ["channel", "outcome"],
    registry=REGISTRY,
)
NOTIFY_ATTEMPT_FAILURES = Counter(
    "anbu_alerts_notify_attempt_failures_total",
    "Failed delivery attempts (each retry counts), by channel.",
    ["channel"],
    registry=REGISTRY,
)
NOTIFY_LATENCY = Histogram(
    "anbu_alerts_notify_seconds",
    "From the alert being opened or escalated to the notification being delivered.",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
ESCALATIONS = Counter(
    "anbu_alerts_escalations_total",
    "Escalations to a further tier, and robot check-ins requested.",
    ["step"],
    registry=REGISTRY,
)
INFLUX_PENDING = Gauge(
    "anbu_alerts_influx_pending",
    "Alert history entries not yet written to InfluxDB.",
    registry=REGISTRY,
)
ACTIVE = Gauge(
    "anbu_alerts_active",
    "Alerts open or acknowledged.",
    ["state"],
    registry=REGISTRY,
)
