"""Which programs make up the embedded stack, built from the settings."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from anbu.stack.apache_kafka import apache_kafka_spec
from anbu.stack.exceptions import StackError
from anbu.stack.services import (
    MosquittoTls,
    ServiceSpec,
    influxdb_spec,
    mosquitto_spec,
    tansu_spec,
)
from anbu.stack.supervise import Program
from config import Settings
from ingest.bridge import default_client_id

# Programs of anbu's own, in start order: (program name, anbu arguments).
APP_PROGRAMS: list[tuple[str, list[str]]] = [
    ("web", ["web"]),
    ("bridge", ["bridge"]),
    ("worker", ["worker"]),
    ("alerts", ["alerts"]),
    ("series", ["series"]),
]


def _host_port(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def service_ports(settings: Settings) -> dict[str, int]:
    """The ports of the infrastructure services, derived from the settings alone."""
    return {
        "mosquitto": settings.mqtt.port,
        "kafka": _host_port(settings.kafka.bootstrap_servers[0])[1],
        "influxdb": urlsplit(settings.influx.url).port or 8086,
    }


def infra_programs(settings: Settings) -> list[Program]:
    """Mosquitto, the Kafka broker and InfluxDB, on the configured ports.

    Raises:
        MissingProgram: a program is not installed (the message says how to install it).
        StackError: Kafka's jars could not be fetched or its storage formatted.
    """
    data = settings.data_dir
    stack = settings.stack
    mosquitto = mosquitto_spec(
        data / "mosquitto",
        settings.mqtt.port,
        service_user=(settings.mqtt.username, settings.mqtt_password()),
        binary=stack.mosquitto_bin,
        tls=mosquitto_tls(settings),
    )
    ports = service_ports(settings)
    influx = influxdb_spec(
        data / "influxdb", ports["influxdb"], stack.influx_rpc_port, binary=stack.influxd_bin
    )
    return [
        Program(mosquitto, autostart=True, priority=10),
        Program(kafka_spec(settings), autostart=True, priority=10),
        Program(influx, autostart=True, priority=10),
    ]


def mosquitto_tls(settings: Settings) -> MosquittoTls | None:
    """Mosquitto's TLS listener if a certificate and key are set.

    Raises:
        StackError: only one of the two is set.
    """
    stack = settings.stack
    cert, key = stack.mosquitto_tls_cert, stack.mosquitto_tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise StackError("set both stack.mosquitto_tls_cert and stack.mosquitto_tls_key")
    return MosquittoTls(stack.mosquitto_tls_port, cert, key, stack.mosquitto_tls_bind)


def kafka_spec(settings: Settings) -> ServiceSpec:
    """The embedded broker ``stack.kafka`` names, on the port of ``kafka.bootstrap_servers``."""
    stack = settings.stack
    port = service_ports(settings)["kafka"]
    if stack.kafka == "tansu":
        return tansu_spec(port, binary=stack.tansu_bin)
    return apache_kafka_spec(
        settings.data_dir / "kafka",
        port,
        stack.kafka_controller_port,
        java=stack.java_bin,
        heap=stack.kafka_heap,
        lib_dir=stack.kafka_lib_dir,
        partitions=settings.kafka.topics.partitions,
    )


def anbu_argv(*args: str) -> list[str]:
    """The command line that runs ``anbu ARGS`` with this interpreter."""
    return [sys.executable, "-m", "anbu", *args]


def copy_port(first: int, n: int, taken: set[int]) -> int:
    """The port of the ``n``-th copy of a program whose first copy listens on ``first``.

    The first one's plus ``n - 1``, or the next free one after it: with the default ports,
    three bridges (9108, 9109, 9110) would otherwise take the alerts service's 9110.
    ``taken`` gets the port chosen.
    """
    port = first + n - 1
    while port in taken:
        port += 1
    taken.add(port)
    return port


def copy_env(settings: Settings, name: str, n: int, port: int | None) -> dict[str, str]:
    """The settings that make the ``n``-th copy of a program differ from the first.

    It listens on ``port`` (see :func:`copy_port`); a worker gets its own state directory
    (RocksDB allows one process per directory) and a bridge its own MQTT session.
    """
    env = {"ANBU_STACK__INSTANCE": str(n)}
    setting = {
        "worker": "ANBU_DETECTORS__WEB_PORT",
        "bridge": "ANBU_INGEST__METRICS_PORT",
        "alerts": "ANBU_ALERTS__METRICS_PORT",
    }
    if port is not None and name in setting:
        env[setting[name]] = str(port)
    if name == "bridge":
        env["ANBU_INGEST__CLIENT_ID"] = f"{default_client_id(settings)}-{n}"
    return env


def plain_bridge(settings: Settings, name: str) -> list[str]:
    """The arguments that give a lone bridge plain MQTT subscriptions instead of shared ones.

    Mosquitto 2.0.11 does not restore a persistent session's shared subscriptions after its
    own restart, so whatever devices publish before the bridge subscribes again is dropped;
    plain ones it restores and queues for. One bridge needs no sharing; several do (each
    would otherwise get every message), and keep the trade (see docs/ingest.md).
    """
    if name == "bridge" and settings.stack.bridges == 1:
        return ["--set", "mqtt.shared_group="]
    return []


def app_programs(settings: Settings, available: set[str], *, demo: bool) -> list[Program]:
    """Anbu's own processes whose commands exist in this installation."""
    ports = {
        "web": settings.web.port,
        "bridge": settings.ingest.metrics_port,
        "worker": settings.detectors.web_port,
        "alerts": settings.alerts.metrics_port,
        "series": None,
    }
    copies = {
        "worker": settings.stack.workers,
        "bridge": settings.stack.bridges,
        "alerts": settings.stack.alerts,
        "series": settings.stack.series,
    }
    programs = [
        Program(
            ServiceSpec(name, anbu_argv(*plain_bridge(settings, name), *args), ports[name]),
            autostart=False,
            priority=50,
        )
        for name, args in APP_PROGRAMS
        if name in available
    ]
    # every port a program of the stack listens on, so that no copy takes one of them
    taken = {p for p in ports.values() if p is not None} | set(service_ports(settings).values())
    for name, args in APP_PROGRAMS:
        for n in range(2, copies.get(name, 1) + 1) if name in available else ():
            first = ports[name]
            port = None if first is None else copy_port(first, n, taken)
            spec = ServiceSpec(
                f"{name}-{n}",
                anbu_argv(*args),
                port,
                env=copy_env(settings, name, n, port),
            )
            programs.append(Program(spec, autostart=False, priority=50))
    if demo and "simulate" in available:
        argv = anbu_argv(
            "simulate",
            "--demo",
            "--households",
            str(settings.stack.demo_households),
            "--speed",
            str(settings.stack.demo_speed),
        )
        programs.append(Program(ServiceSpec("demo", argv, None), autostart=False, priority=90))
    return programs
