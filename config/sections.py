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
    escalation_delay: Duration = timedelta(minutes=15)
    checkin_timeout: Duration = timedelta(minutes=2)


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
