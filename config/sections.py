"""Settings of anbu's own processes: bridge, detectors, alerts, registry, web.

Each section belongs to the package named after it; extend your package's section here
(the detectors' section is in :mod:`config.detector_settings`, exported here too).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr

from config.detector_settings import DetectorSettings
from config.types import Duration, HttpUrl, Port, Section

__all__ = [
    "AlertSettings", "DetectorSettings", "IngestSettings", "RegistrySettings", "SeriesSettings",
    "WebSettings",
]


class IngestSettings(Section):
    """The MQTT to Kafka bridge."""

    device_time_window: Duration = timedelta(minutes=5)
    """A device timestamp further than this from the broker receive time is replaced by the receive
    time and the event is flagged."""
    max_payload_bytes: int = Field(default=65536, gt=0)
    batch_max_events: int = Field(default=200, gt=0)
    batch_linger: Duration = timedelta(milliseconds=100)
    """Telemetry waits at most this long for its household's batch to fill (SOS never waits); longer
    means fewer, larger Kafka records."""
    metrics_port: Port = 9108
    metrics_flush: Duration = timedelta(seconds=10)
    log_every: Duration = timedelta(seconds=10)
    """Rate limit for repeated warnings."""
    client_id: str | None = None
    """MQTT client id of this bridge instance; fixed, so its persistent session survives restarts.
    Unset: anbu-bridge-<hostname>. Give each bridge its own."""
    session_expiry: Duration = timedelta(days=7)
    """How long the broker keeps queueing for a bridge that is down."""
    receive_maximum: int = Field(default=5000, ge=1, le=65535)
    """Messages the broker may have in flight to the bridge unacknowledged."""
    metrics_host: str = "127.0.0.1"
    """Address of /metrics."""
    unregistered_labels: int = Field(default=1000, gt=0)
    """Distinct gateways/prefixes counted as unregistered."""


class AlertSettings(Section):
    """The alerts service and its notifiers."""

    webhook_url: HttpUrl | None = None
    webhook_secret: SecretStr | None = None
    smtp_host: str | None = None
    smtp_port: Port = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "anbu@localhost"
    sms_gateway_url: HttpUrl | None = None
    sms_api_key: SecretStr | None = None
    escalation_delay: Duration = timedelta(minutes=15)
    """Delay per tier for households the registry has not published yet."""
    checkin_timeout: Duration = timedelta(minutes=2)
    """How long an inactivity alert waits for the robot check-in's answer before escalating."""
    database_url: str | None = None
    """SQLAlchemy URL of the alert store shared by `anbu alerts` and `anbu web`; unset: SQLite file
    alerts.sqlite3 under the data directory."""
    group_id: str = "anbu-alerts"
    sms_api_key_header: str = "X-Api-Key"
    inbox_url: str | None = None
    """Public URL of the inbox, linked from notifications."""
    notify_attempts: int = Field(default=5, ge=1)
    """Tries per notification."""
    notify_backoff_max: Duration = timedelta(seconds=30)
    """Longest wait between notification tries."""
    notify_timeout: Duration = timedelta(seconds=10)
    tick_interval: Duration = timedelta(milliseconds=250)
    """How often escalation deadlines and the InfluxDB outbox are checked."""
    metrics_host: str = "127.0.0.1"
    metrics_port: Port | None = 9110
    """Prometheus metrics of `anbu alerts`; unset: not served."""
    voicebot_url: HttpUrl | None = None
    """Voice-bot provider's call-request endpoint; unset: no check-in calls."""
    voicebot_secret: SecretStr | None = None
    """HMAC-SHA256 key shared with the voice-bot provider."""
    voicebot_timeout: Duration = timedelta(minutes=5)
    """How long a quiet-home alert waits for the call's outcome before escalating."""
    voicebot_callback_host: str = "127.0.0.1"
    voicebot_callback_port: Port | None = None
    """Port of the callback endpoint `anbu alerts` serves for the provider; unset: not served."""
    voicebot_callback_url: str | None = None
    """Public URL of that endpoint, sent to the provider; unset:
    http://<voicebot_callback_host>:<voicebot_callback_port>/voicebot/callback."""
    checkin_call_wait: Duration = timedelta(minutes=30)
    """How long a scheduled check-in call waits for the provider's report; no report by then counts
    as a missed call."""
    checkin_late_limit: Duration = timedelta(hours=2)
    """A scheduled call not placed on time (the alerts service was down) is placed late up to this
    long after its time, then given up (and logged)."""
    checkin_missed_in_row: int = Field(default=2, ge=1)
    """Missed scheduled calls in a row that open an alert."""
    checkin_poll_interval: Duration = timedelta(seconds=15)
    """How often call schedules are checked."""


class RegistrySettings(Section):
    """The device registry store."""

    database_url: str | None = None
    """SQLAlchemy URL; unset: SQLite file under the data directory."""
    admin_token: SecretStr | None = None
    """Bootstrap admin API token; unset: generated under data dir."""
    mosquitto_dir: Path | None = None
    """Where Mosquitto's passwd, acl and mosquitto.pid are; unset: <data dir>/mosquitto (the
    embedded stack's)."""
    snapshot_interval: Duration = timedelta(minutes=15)
    """How often the web process republishes the whole registry to Kafka (besides at start-up), so a
    change that could not be published is not lost."""
    consumer_group: str = "anbu-registry"
    """Kafka consumer group that reads events to learn each device's last report."""
    last_seen_flush: Duration = timedelta(seconds=1)
    """How often last-seen times are written."""
    gateway_mqtt_host: str | None = None
    """The broker address gateways are given with their login (the public name of the MQTT broker);
    unset: mqtt.host."""
    gateway_mqtt_port: Port | None = None
    """The broker port gateways are given; unset: mqtt.port."""
    max_import_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    """Largest CSV file POST /api/v1/import takes (413 above it; about 20,000 rows with a device
    each)."""


class WebSettings(Section):
    """The web server: installer API, care-center inbox, operator dashboards."""

    host: str = "127.0.0.1"
    port: Port = 8080
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    """Largest request body of any endpoint but the CSV import (registry.max_import_bytes); 413
    above it."""
    max_url_bytes: int = Field(default=8192, gt=0)
    """Longest path and query string; 414 above it."""
    max_header_bytes: int = Field(default=32 * 1024, gt=0)
    """Most bytes of request headers; 431 above them."""
    max_request_head_bytes: int = Field(default=1024 * 1024, gt=0)
    """Most bytes of a request line and headers the HTTP server reads before giving up (uvicorn's
    h11_max_incomplete_event_size); kept above the two limits before so that a long URL or header
    gets its 414 or 431 instead of a dropped connection."""
    signin_rate: str = Field(
        default="20/minute",
        pattern=r"^\d+ */ *(\d+ *)?(second|minute|hour|day)s?$",
    )
    """Most sign-in attempts from one client address (a moving window, e.g. '20/minute'); 429 above
    it. The per-account lockout stops guessing at one account, this a sweep over many."""


class SeriesSettings(Section):
    """The series writer (``anbu series``) and the dashboards that read its series."""

    group_id: str = "anbu-series"
    flush_interval: Duration = timedelta(seconds=5)
    """How often counted activity and device health are written to InfluxDB."""
    health_snapshot_interval: Duration = timedelta(minutes=10)
    """How often every registered device's health is written, reported or not, so silent devices
    show up with how long they have been silent."""
    recent_retention: Duration = timedelta(days=35)
    """How long 5-minute activity, device health and metrics are kept (the default retention
    policy)."""
    rollup_retention: Duration = timedelta(days=400)
    """How long the hourly and daily rollups are kept (retention policy 'rollup')."""
    health_retention: Duration = timedelta(days=7)
    """How long device-health snapshots are kept (retention policy 'health')."""
    review_retention: Duration = timedelta(days=70)
    """How long the weekly review's input events are kept (retention policy 'review'): a week and
    the eight before it, and the days of the current week."""
    low_battery_percent: float = Field(default=20.0, ge=0, le=100)
    dedupe_keys: int = Field(default=200_000, gt=0)
    """Recent idempotency keys remembered to drop replays."""
