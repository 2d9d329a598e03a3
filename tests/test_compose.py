"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked:
it parses, and every project command, setting, port, file and secret it names exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from anbu.commands import available_commands
from config import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _anbu_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("build") == "."}


def _setting_exists(env_name: str) -> bool:
    parts = env_name.removeprefix("ANBU_").lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_production_services_are_all_there(compose: dict[str, Any]) -> None:
    images = {s.get("image", "").split(":")[0] for s in compose["services"].values()}
    assert {
        "apache/kafka",
        "eclipse-mosquitto",
        "influxdb",
        "grafana/grafana",
        "postgres",
    } <= images
    kafka_env = compose["services"]["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper


def test_every_project_command_exists(compose: dict[str, Any]) -> None:
    commands = available_commands()
    services = _anbu_services(compose)
    assert {"web", "bridge", "worker", "alerts", "series", "init"} <= {
        s["command"][0] for s in services.values()
    }
    for name, service in services.items():
        assert service["command"][0] in commands, f"{name}: no such anbu command"


def test_every_anbu_variable_is_a_setting(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    names = set(re.findall(r"^\s+(ANBU_[A-Z0-9_]+):", text, re.M))
    assert names, "no ANBU_ variables found"
    for name in sorted(names):
        assert _setting_exists(name), f"{name} is not a setting of config.Settings"


def test_ports_match_the_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    defaults = Settings()
    web_env = services["anbu-web"]["environment"]
    assert services["anbu-web"]["ports"] == [
        f"{web_env['ANBU_WEB__PORT']}:{web_env['ANBU_WEB__PORT']}"
    ]
    bridge_port = defaults.ingest.metrics_port
    assert services["anbu-bridge"]["ports"] == [f"{bridge_port}:{bridge_port}"]
    env = services["anbu-bridge"]["environment"]
    assert env["ANBU_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert (
        "PLAINTEXT://kafka:9092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    )
    mosquitto_ports = services["mosquitto"]["ports"]
    assert env["ANBU_MQTT__PORT"] == "1883" and "127.0.0.1:1883:1883" in mosquitto_ports
    # Gateways: TLS only, on the port the embedded stack uses too.
    tls_port = defaults.stack.mosquitto_tls_port
    assert f"{tls_port}:{tls_port}" in mosquitto_ports and len(mosquitto_ports) == 2
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    assert f"listener {tls_port}\ncertfile /mosquitto/certs/" in conf
    assert env["ANBU_INFLUX__URL"] == "http://influxdb:8086"


def test_files_it_mounts_and_builds_from_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{source} is mounted but missing"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("anbu", "config", "ingest", "detectors", "alerts", "devices", "web"):
        assert f"COPY {package} ./{package}" in dockerfile


def test_every_secret_is_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / "deploy" / "env.example").read_text()
    for name in used:
        assert re.search(rf"^{name}=", example, re.M), f"{name} missing from deploy/env.example"
