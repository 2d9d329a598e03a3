"""Settings of anbu's own processes: bridge, detectors, alerts, registry, web.

Each section belongs to the package named after it; extend your package's section here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

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
    batch_linger: Duration = Field(
        default=timedelta(milliseconds=100),
        description="Telemetry waits at most this long for its household's batch to fill "
        "(SOS never waits); longer means fewer, larger Kafka records.",
    )
    metrics_port: Port = 9108
    metrics_flush: Duration = timedelta(seconds=10)
    log_every: Duration = Field(
        default=timedelta(seconds=10), description="Rate limit for repeated warnings."
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client id of this bridge instance; fixed, so its persistent session "
        "survives restarts. Unset: anbu-bridge-<hostname>. Give each bridge its own.",
    )
    session_expiry: Duration = Field(
        default=timedelta(days=7),
        description="How long the broker keeps queueing for a bridge that is down.",
    )
    receive_maximum: int = Field(
        default=5000,
        ge=1,
        le=65535,
        description="Messages the broker may have in flight to the bridge unacknowledged.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of /metrics.")
    unregistered_labels: int = Field(
        default=1000, gt=0, description="Distinct gateways/prefixes counted as unregistered."
    )


class DetectorSettings(_Section):
    """The detector worker and its defaults for households without their own settings."""

    app_id: str = "anbu-detectors"
    default_inactivity_hours: float = Field(default=24.0, gt=0)
    tick_interval: Duration = timedelta(milliseconds=250)
    checkpoint_records: int = Field(
        default=2000, ge=1,
        description="Save a partition's households and offsets after this many records ...",
    )
    checkpoint_interval: Duration = Field(
        default=timedelta(seconds=1),
        description="... or this long after its last save, whichever comes first (a crash "
        "replays at most this much; duplicates of its alerts are dropped downstream).",
    )
    store: str = "rocksdb://"
    web_port: Port = 6066
    hot_households: int = Field(
        default=10_000, ge=0,
        description="Households the worker keeps as objects, shared evenly by its input "
        "partitions' engines; the others are kept packed, about 0.55 KB instead of 2 KB, and "
        "unpacked (about 10 µs) when an event or deadline needs them. 0 keeps all of them "
        "unpacked.",
    )
    # Routine-aware inactivity (see docs/detectors.md).
    routine_model: Literal["silences", "rates"] = Field(
        default="silences",
        description="silences: learn how long this resident's quiet spells last by time of "
        "day and context, thresholds from alert_budget; rates: the older model of active "
        "5-minute slots an hour (Poisson), kept for comparison.",
    )
    alert_budget: float = Field(
        default=5.0, gt=0, le=100,
        description="silences model: routine alerts in ordinary life per 100 household-days "
        "the thresholds are chosen for (5 for ask-first homes with a robot or voice-bot "
        "check-in; 1 for homes where an alert goes straight to a care worker). not_back "
        "follows it: at 1, it waits 1.54 times as long as at 5 (not_back_factor is for 5).",
    )
    silence_min: Duration = Field(
        default=timedelta(minutes=30),
        description="silences model: shorter gaps between activities are not learned.",
    )
    silence_min_days: float = Field(
        default=1.0, gt=0,
        description="silences model: days learned before it judges (the prior carries it; "
        "days learned are the time covered by gaps under 24 h, so a home 3 days old has "
        "learned about 2: at 3, most homes were judged only from day 4 or 5).",
    )
    silence_prior_days: float = Field(
        default=5.0, ge=0, description="silences model: weight of the population prior, in days."
    )
    silence_half_life_weeks: float = Field(
        default=8.0, gt=0, description="silences model: how fast old silences are forgotten."
    )
    silence_floor: Duration = Field(
        default=timedelta(hours=1),
        description="silences model: no routine alert for a shorter silence.",
    )
    silence_room_prior: float = Field(
        default=1.0, ge=0,
        description="silences model: judge a daytime silence also by the sensor of the last "
        "activity (how often and how long silences begin there, per hour the resident is seen "
        "there), shrunk to the home's average by this many pseudo-silences; 0 leaves the room "
        "out (docs/benchmarks.md, 'The room floor').",
    )
    silence_room_floor: float = Field(
        default=4.0, ge=0,
        description="silences model, with the room: a room whose spells are shorter than the "
        "home's never shortens a threshold below where the home's own spell lengths, at the "
        "room's rate, would raise this many times the alert budget; 0 leaves it out "
        "(docs/detectors.md, 'The room floor').",
    )
    routine_threshold: float = Field(
        default=1e-5,
        gt=0,
        lt=1,
        description="Alert when the current silence is less probable than this under the "
        "resident's learned routine (Poisson: exp(-expected active slots)).",
    )
    routine_min_silence: Duration = Field(
        default=timedelta(hours=2), description="No routine alert for a shorter silence."
    )
    routine_slot: Duration = Field(
        default=timedelta(minutes=5),
        description="Activity is counted as active slots of this length, so bursts and "
        "duplicates do not inflate the learned rate.",
    )
    routine_min_observations: int = Field(
        default=2, ge=1, description="Observations of an hour-of-week bin before it is trusted."
    )
    routine_min_days: float = Field(
        default=7.0, gt=0, description="Days of history before the routine model is used."
    )
    partly_blind_factor: float = Field(
        default=2.0, ge=1,
        description="While some activity sensors are silent, routine-aware inactivity expects "
        "only 1/this of the usual activity and waits this many times the minimum silence.",
    )
    routine_half_life_weeks: float = Field(
        default=4.0, gt=0, description="How fast an old routine is forgotten."
    )
    out_grace: Duration = Field(
        default=timedelta(minutes=10),
        description="Silence inside this long after the entrance door means the resident went out.",
    )
    not_back_floor: Duration = timedelta(hours=3)
    not_back_factor: float = Field(
        default=2.0, gt=1,
        description="not_back after this many times the length 9 in 10 of the resident's "
        "outings stay under (at least not_back_floor, at most not_back_max).",
    )
    not_back_max: Duration = timedelta(hours=24)
    long_outing_prior: Duration = Field(
        default=timedelta(hours=4),
        description="The length 9 in 10 outings stay under, assumed until the resident's own "
        "is learned.",
    )
    away_grace: Duration = Field(
        default=timedelta(hours=1), description="Wait this long after an away period ends."
    )
    recovery_grace: Duration = Field(
        default=timedelta(minutes=30),
        description="After a blind household is seen again, wait this long for activity "
        "before an inactivity alert that the outage held back.",
    )
    gateway_missed_heartbeats: float = Field(default=3.0, gt=1)
    default_heartbeat_interval: Duration = timedelta(seconds=60)
    device_silent_factor: float = Field(default=2.0, gt=1)
    battery_low_percent: float = 15.0
    battery_ok_percent: float = 25.0
    sos_merge: Duration = Field(
        default=timedelta(minutes=5), description="Presses this close are one SOS episode."
    )
    plug_on_watts: float = 10.0
    plug_step_watts: float = 40.0
    plug_step_ratio: float = 0.5
    plug_warmup: Duration = Field(
        default=timedelta(hours=72),
        description="A plug counts as activity only after it has been watched this long and "
        "did not cycle on by itself at night (a fridge is not a person).",
    )
    event_time_margin: Duration = Field(
        default=timedelta(minutes=2),
        description="A record on the events topic with an event time further ahead of the "
        "worker's wall clock than ingest.device_time_window plus this is dead-lettered "
        "(reason event_time_ahead) and moves no clock; an SOS that far ahead is kept, its "
        "time set to when Kafka took it (or to the wall clock).",
    )
    # A broker restart takes seconds and a rolling restart of a three-broker cluster a few
    # minutes; 15 min covers both with room. Past it, holding the clock would hide real
    # collapses for as long as the outage lasts (or for ever, when the probe is wrong and
    # the worker in fact reads), and an inactivity threshold of hours loses at most this.
    outage_max_freeze: Duration = Field(
        default=timedelta(minutes=15),
        description="While Kafka is unreachable the detectors' clock waits, at most this "
        "long; then it moves again (gateway and device silence stays unjudged until Kafka is "
        "back) and an error is logged.",
    )
    broker_session_timeout: float = 6.0
    broker_heartbeat_interval: float = 1.0
    broker_rebalance_timeout: float = 5.0
    standby_replicas: int = Field(
        default=1,
        ge=0,
        description="Standby copies of each partition's household state that other workers "
        "keep up to date from the changelog (Faust's table_standby_replicas), so a worker "
        "taking over a partition after a crash need not read its whole changelog first "
        "(docs/scaling.md).",
    )


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
    metrics_host: str = "127.0.0.1"
    metrics_port: Port | None = Field(
        default=9110, description="Prometheus metrics of `anbu alerts`; unset: not served."
    )
    voicebot_url: HttpUrl | None = Field(
        default=None,
        description="Voice-bot provider's call-request endpoint; unset: no check-in calls.",
    )
    voicebot_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key shared with the voice-bot provider."
    )
    voicebot_timeout: Duration = Field(
        default=timedelta(minutes=5),
        description="How long a quiet-home alert waits for the call's outcome before escalating.",
    )
    voicebot_callback_host: str = "127.0.0.1"
    voicebot_callback_port: Port | None = Field(
        default=None,
        description="Port of the callback endpoint `anbu alerts` serves for the provider; "
        "unset: not served.",
    )
    voicebot_callback_url: str | None = Field(
        default=None,
        description="Public URL of that endpoint, sent to the provider; unset: "
        "http://<voicebot_callback_host>:<voicebot_callback_port>/voicebot/callback.",
    )
    checkin_call_wait: Duration = Field(
        default=timedelta(minutes=30),
        description="How long a scheduled check-in call waits for the provider's report; "
        "no report by then counts as a missed call.",
    )
    checkin_late_limit: Duration = Field(
        default=timedelta(hours=2),
        description="A scheduled call not placed on time (the alerts service was down) is "
        "placed late up to this long after its time, then given up (and logged).",
    )
    checkin_missed_in_row: int = Field(
        default=2, ge=1, description="Missed scheduled calls in a row that open an alert."
    )
    checkin_poll_interval: Duration = Field(
        default=timedelta(seconds=15), description="How often call schedules are checked."
    )


class RegistrySettings(_Section):
    """The device registry store."""

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset: SQLite file under the data directory."
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bootstrap admin API token; unset: generated under data dir."
    )
    mosquitto_dir: Path | None = Field(
        default=None,
        description="Where Mosquitto's passwd, acl and mosquitto.pid are; unset: "
        "<data dir>/mosquitto (the embedded stack's).",
    )
    snapshot_interval: Duration = Field(
        default=timedelta(minutes=15),
        description="How often the web process republishes the whole registry to Kafka "
        "(besides at start-up), so a change that could not be published is not lost.",
    )
    consumer_group: str = Field(
        default="anbu-registry",
        description="Kafka consumer group that reads events to learn each device's last report.",
    )
    last_seen_flush: Duration = Field(
        default=timedelta(seconds=1), description="How often last-seen times are written."
    )
    gateway_mqtt_host: str | None = Field(
        default=None,
        description="The broker address gateways are given with their login (the public "
        "name of the MQTT broker); unset: mqtt.host.",
    )
    gateway_mqtt_port: Port | None = Field(
        default=None, description="The broker port gateways are given; unset: mqtt.port."
    )
    max_import_bytes: int = Field(
        default=5 * 1024 * 1024,
        gt=0,
        description="Largest CSV file POST /api/v1/import takes (413 above it; about 20,000 "
        "rows with a device each).",
    )


class WebSettings(_Section):
    """The web server: installer API, care-center inbox, operator dashboards."""

    host: str = "127.0.0.1"
    port: Port = 8080
    max_body_bytes: int = Field(
        default=256 * 1024,
        gt=0,
        description="Largest request body of any endpoint but the CSV import "
        "(registry.max_import_bytes); 413 above it.",
    )
    max_url_bytes: int = Field(
        default=8192, gt=0, description="Longest path and query string; 414 above it."
    )
    max_header_bytes: int = Field(
        default=32 * 1024, gt=0, description="Most bytes of request headers; 431 above them."
    )
    max_request_head_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Most bytes of a request line and headers the HTTP server reads before "
        "giving up (uvicorn's h11_max_incomplete_event_size); kept above the two limits "
        "before so that a long URL or header gets its 414 or 431 instead of a dropped "
        "connection.",
    )
    signin_rate: str = Field(
        default="20/minute",
        pattern=r"^\d+ */ *(\d+ *)?(second|minute|hour|day)s?$",
        description="Most sign-in attempts from one client address (a moving window, e.g. "
        "'20/minute'); 429 above it. The per-account lockout stops guessing at one account, "
        "this a sweep over many.",
    )


class SeriesSettings(_Section):
    """The series writer (``anbu series``) and the dashboards that read its series."""

    group_id: str = "anbu-series"
    flush_interval: Duration = Field(
        default=timedelta(seconds=5),
        description="How often counted activity and device health are written to InfluxDB.",
    )
    health_snapshot_interval: Duration = Field(
        default=timedelta(minutes=10),
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
    health_retention: Duration = Field(
        default=timedelta(days=7),
        description="How long device-health snapshots are kept (retention policy 'health').",
    )
    review_retention: Duration = Field(
        default=timedelta(days=70),
        description="How long the weekly review's input events are kept (retention policy "
        "'review'): a week and the eight before it, and the days of the current week.",
    )
    low_battery_percent: float = Field(default=20.0, ge=0, le=100)
    dedupe_keys: int = Field(
        default=200_000, gt=0, description="Recent idempotency keys remembered to drop replays."
    )
