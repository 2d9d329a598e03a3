"""Gateways reach the embedded Mosquitto over TLS; plaintext is for loopback only.

A self-signed certificate is made for each test run with the openssl CLI.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from anbu.mosquitto_auth import MqttAccount, hash_password, service_account
from anbu.stack.compose import infra_programs, mosquitto_tls
from anbu.stack.exceptions import StackError
from anbu.stack.services import MosquittoTls, free_port, mosquitto_spec
from config import load_settings
from testkit.services import SERVICE_USER, RunningService, running

GATEWAY = ("gw-tls", "gateway-secret")
TOPIC = "zigbee2mqtt/gw-tls/kitchen_motion"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def broker(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[RunningService]:
    cert, key = certificate
    gateway = MqttAccount(GATEWAY[0], hash_password(GATEWAY[1]), write=("zigbee2mqtt/gw-tls/#",))
    spec = mosquitto_spec(
        tmp_path / "mosquitto",
        free_port(),
        accounts=[gateway, service_account(*SERVICE_USER)],
        tls=MosquittoTls(free_port(), cert, key),
    )
    with running(spec, tmp_path / "mosquitto.log") as service:
        yield service


def _tls_port(broker: RunningService) -> int:
    config = Path(broker.spec.argv[-1]).read_text()
    listeners = [line.split()[1] for line in config.splitlines() if line.startswith("listener ")]
    assert len(listeners) == 2, config
    return int(listeners[1])


def _client(name: str, user: tuple[str, str]) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    client.username_pw_set(*user)
    return client


def _connect_result(client: mqtt.Client, port: int) -> str:
    """Connect and say how it went: 'accepted', 'refused' (bad login) or the error."""
    done = threading.Event()
    outcome: list[str] = []

    def on_connect(_c: object, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        outcome.append("refused" if rc.is_failure else "accepted")
        done.set()

    client.on_connect = on_connect
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        return f"error: {exc!r}"
    client.loop_start()
    try:
        if not done.wait(5):
            return "no answer"
        return outcome[0]
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_gateway_publishes_over_tls_and_its_message_arrives(
    broker: RunningService, certificate: tuple[Path, Path]
) -> None:
    cert, _key = certificate
    got: list[tuple[str, bytes]] = []
    arrived, subscribed = threading.Event(), threading.Event()

    service = _client("anbu-watch", SERVICE_USER)

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append((msg.topic, bytes(msg.payload)))
        arrived.set()

    service.on_message = on_message
    service.on_subscribe = lambda *_a: subscribed.set()
    service.connect("127.0.0.1", broker.port)  # anbu's own processes: plaintext on loopback
    service.loop_start()
    try:
        service.subscribe("zigbee2mqtt/#", qos=1)
        assert subscribed.wait(5)

        gateway = _client("gw-tls", GATEWAY)
        gateway.tls_set(ca_certs=str(cert))  # verifies the certificate and the host name
        gateway.connect("127.0.0.1", _tls_port(broker))
        gateway.loop_start()
        try:
            info = gateway.publish(TOPIC, b'{"occupancy":true}', qos=1)
            info.wait_for_publish(5)
            assert info.is_published()
            assert arrived.wait(5)
        finally:
            gateway.loop_stop()
            gateway.disconnect()
    finally:
        service.loop_stop()
        service.disconnect()
    assert got == [(TOPIC, b'{"occupancy":true}')]


def test_tls_listener_checks_credentials_and_speaks_only_tls(
    broker: RunningService, certificate: tuple[Path, Path]
) -> None:
    cert, _key = certificate
    tls_port = _tls_port(broker)
    good = _client("gw-good", GATEWAY)
    good.tls_set(ca_certs=str(cert))
    assert _connect_result(good, tls_port) == "accepted"  # the control
    wrong = _client("gw-wrong", (GATEWAY[0], "not-the-password"))
    wrong.tls_set(ca_certs=str(cert))
    assert _connect_result(wrong, tls_port) == "refused"
    # A plaintext MQTT client gets no MQTT session on the TLS port.
    assert _connect_result(_client("gw-plain", GATEWAY), tls_port) != "accepted"
    # A client that does not trust the certificate does not connect.
    untrusting = _client("gw-untrusting", GATEWAY)
    untrusting.tls_set(ca_certs=None, cert_reqs=ssl.CERT_REQUIRED)
    assert _connect_result(untrusting, tls_port).startswith("error")


def _listening(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at ``port`` (from /proc/net/tcp*)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return "::" if int(hex_address, 16) == 0 else hex_address


def test_plaintext_listens_on_loopback_only(broker: RunningService) -> None:
    # Non-loopback clients cannot reach a socket bound to 127.0.0.1: the kernel refuses them.
    assert _listening(broker.port) == {"127.0.0.1"}
    # The control: the TLS listener is reachable from outside, and seen as such.
    assert _listening(_tls_port(broker)) == {"0.0.0.0"}


def test_settings_turn_the_tls_listener_on(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    base = {"stack.data_dir": str(tmp_path / "var"), "stack.kafka": "tansu"}
    assert mosquitto_tls(load_settings(None, base)) is None
    settings = load_settings(
        None,
        {**base, "stack.mosquitto_tls_cert": str(cert), "stack.mosquitto_tls_key": str(key)},
    )
    assert mosquitto_tls(settings) == MosquittoTls(8883, cert, key, "0.0.0.0")
    infra_programs(settings)  # writes the configs of the whole stack
    config = (settings.data_dir / "mosquitto" / "mosquitto.conf").read_text()
    assert "listener 1883 127.0.0.1\n" in config
    assert f"listener 8883 0.0.0.0\ncertfile {cert.resolve()}\nkeyfile {key.resolve()}\n" in config
    with pytest.raises(StackError, match="both"):
        mosquitto_tls(load_settings(None, {**base, "stack.mosquitto_tls_cert": str(cert)}))
