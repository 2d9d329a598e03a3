"""``anbu simulate --demo``: seeds the registry, publishes live traffic, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from config import Settings
from testkit.services import SERVICE_USER


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env.update(
        ANBU_STACK__DATA_DIR=str(settings.data_dir),
        ANBU_MQTT__PORT=str(settings.mqtt.port),
        ANBU_MQTT__USERNAME=SERVICE_USER[0],
        ANBU_MQTT__PASSWORD=SERVICE_USER[1],
        ANBU_KAFKA__BOOTSTRAP_SERVERS=",".join(settings.kafka.bootstrap_servers),
        ANBU_KAFKA__TOPICS__REGISTRY=settings.kafka.topics.registry,
        ANBU_REGISTRY__MOSQUITTO_DIR=str(settings.data_dir / "demo-mosquitto"),
    )
    return env


def test_demo_seeds_and_publishes_live(make_settings: Callable[..., Settings]) -> None:
    from ingest.anbu_format import CheckinAnswer, CheckinRequest, command_topic

    settings = make_settings()
    received: list[str] = []
    answers: list[dict[str, Any]] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-test-sub")
    sub.username_pw_set(*SERVICE_USER)

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe([("zigbee2mqtt/#", 1), ("anbu/#", 1)])
        ready.set()

    sub.on_connect = on_connect

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.topic)
        if msg.topic == "anbu/gw-00001/robot":
            body = json.loads(msg.payload)
            if body.get("type") == "checkin_answer":
                answers.append(body)

    sub.on_message = on_message
    sub.connect("127.0.0.1", settings.mqtt.port)
    sub.loop_start()
    assert ready.wait(10)
    process = subprocess.Popen(
        [sys.executable, "-m", "anbu", "simulate", "--demo", "--households", "2", "--speed", "600"],
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("/heartbeat" in t for t in received):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            time.sleep(0.2)
        assert any(t.endswith("/heartbeat") for t in received)
        accounts = settings.data_dir / "demo" / "accounts.txt"
        assert accounts.exists() and "demo.operator\t" in accounts.read_text()
        # The alerts service asks the robot "are you all right?"; the resident answers.
        request = CheckinRequest(request_id="req-1", text_ko="괜찮으세요?", text_en="All right?")
        sub.publish(command_topic("anbu/gw-00001/robot"), request.to_json(), qos=1)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not answers:
            time.sleep(0.2)
        assert answers and answers[0]["request_id"] == "req-1" and answers[0]["ok"] is True
        CheckinAnswer.model_validate(answers[0])
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode(errors="replace")
        sub.loop_stop()
        sub.disconnect()
    assert process.returncode == 0, output
    assert "2 household(s) created" in output
    # Live traffic in the devices' own topics: the gateways' heartbeats at least.
    assert {t.split("/")[1] for t in received if t.startswith("anbu/")} <= {"gw-00001", "gw-00002"}
