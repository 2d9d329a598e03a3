"""An MQTT client and a private Mosquitto with the registry's password files, for tests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from anbu.stack.services import free_port, mosquitto_spec
from config import Settings
from testkit.polling import wait_for
from testkit.services import SERVICE_USER, running


class Client:
    """A paho MQTT v5 client that records what happens to it."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.received: list[tuple[str, bytes]] = []
        self.puback: dict[int, ReasonCode] = {}
        self.suback: dict[int, list[ReasonCode]] = {}
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.on_publish = lambda c, u, mid, rc, p: self.puback.__setitem__(mid, rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.suback.__setitem__(mid, rcs)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        self.connack = rc
        self.connected.set()

    def wait_connected(self) -> ReasonCode:
        assert self.connected.wait(10), "no CONNACK"
        assert self.connack is not None
        return self.connack

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        return wait_for(lambda: self.puback.get(info.mid), timeout_s=10)

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        return wait_for(lambda: self.suback.get(mid), timeout_s=10)[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path, make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    port = free_port()
    settings = make_settings({"mqtt.port": port, "registry.gateway_mqtt_host": "127.0.0.1"})
    directory = settings.data_dir / "mosquitto"
    spec = mosquitto_spec(directory, port, service_user=SERVICE_USER)
    with running(spec, tmp_path / "mosquitto.log"):
        yield settings
