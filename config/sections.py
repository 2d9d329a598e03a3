"""Settings of anbu's own processes: bridge, detectors, alerts, registry, web.

Each section belongs to the package named after it; extend your package's section here.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from config.types import Duration, HttpUrl, Port


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestSettings(_Section):
    """The MQTT to Kafka bridge."""

    device_time_window: Duration = Field(
        default=timedelta(minutes=5),
        description="A device timestamp further than this from the broker receive time is "
        "replaced by the receive time and the event is flagged.",
    )
    max_payload_bytes: int = Field(default=65536, gt=0)
    batch_max_events: int = Field(default=200, gt=0)
    batch_linger: Duration = timedelta(milliseconds=20)
    metrics_port: Port = 9108
    metrics_flush: Duration = timedelta(seconds=10)
    log_every: Duration = Field(
        default=timedelta(seconds=10), description="Rate limit for repeated warnings."
    )


class DetectorSettings(_Section):
    """The detector worker and its defaults for households without their own settings."""

    app_id: str = "anbu-detectors"
    default_inactivity_hours: float = Field(default=24.0, gt=0)
    tick_interval: Duration = timedelta(seconds=1)
    store: str = "rocksdb://"
    web_port: Port = 6066


class AlertSettings(_Section):
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
    escalation_delay: Duration = Field(
        default=timedelta(minutes=15),
        description="Delay per tier for households the registry has not published yet.",
    )
    checkin_timeout: Duration = Field(
        default=timedelta(minutes=2),
        description="How long an inactivity alert waits for the robot check-in's answer "
        "before escalating.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the alert store shared by `anbu alerts` and `anbu web`; "
        "unset: SQLite file alerts.sqlite3 under the data directory.",
    )
    group_id: str = "anbu-alerts"
    sms_api_key_header: str = "X-Api-Key"
    inbox_url: str | None = Field(
        default=None, description="Public URL of the inbox, linked from notifications."
    )
    notify_attempts: int = Field(default=5, ge=1, description="Tries per notification.")
    notify_backoff_max: Duration = Field(
        default=timedelta(seconds=30), description="Longest wait between notification tries."
    )
    notify_timeout: Duration = timedelta(seconds=10)
    tick_interval: Duration = Field(
        default=timedelta(milliseconds=250),
        description="How often escalation deadlines and the InfluxDB outbox are checked.",
    )
    metrics_port: Port | None = Field(
        default=9110, description="Prometheus metrics of `anbu alerts`; unset: not served."
    )


class RegistrySettings(_Section):
    """The device registry store."""

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset: SQLite file under the data directory."
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bootstrap admin API token; unset: generated under data dir."
    )


class WebSettings(_Section):
    """The web server: installer API, care-center inbox, operator dashboards."""

    host: str = "127.0.0.1"
    port: Port = 8080


class SeriesSettings(_Section):
    """The series writer (``anbu series``) and the dashboards that read its series."""

    group_id: str = "anbu-series"
    flush_interval: Duration = Field(
        default=timedelta(seconds=5),
        description="How often counted activity and device health are written to InfluxDB.",
    )
    health_snapshot_interval: Duration = Field(
        default=timedelta(minutes=1),
        description="How often every registered device's health is written, reported or not, "
        "so silent devices show up with how long they have been silent.",
    )
    recent_retention: Duration = Field(
        default=timedelta(days=35),
        description="How long 5-minute activity, device health and metrics are kept "
        "(the default retention policy).",
    )
    rollup_retention: Duration = Field(
        default=timedelta(days=400),
        description="How long the hourly and daily rollups are kept (retention policy 'rollup').",
    )
    low_battery_percent: float = Field(default=20.0, ge=0, le=100)
    dedupe_keys: int = Field(
        default=200_000, gt=0, description="Recent idempotency keys remembered to drop replays."
    )
