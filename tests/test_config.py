"""Settings: precedence, validation at load time with one clear line, secrets never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ANBU_"):
            monkeypatch.delenv(key)


def test_defaults_toml_env_flags_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "anbu.toml"
    toml.write_text(
        '[web]\nport = 9001\nhost = "0.0.0.0"\n[mqtt]\nport = 1999\n'
        '[ingest]\ndevice_time_window = "2m"\n'
    )
    assert load_settings().web.port == 8080  # default
    settings = load_settings(toml)
    assert (settings.web.port, settings.web.host, settings.mqtt.port) == (9001, "0.0.0.0", 1999)
    assert settings.ingest.device_time_window == timedelta(minutes=2)
    monkeypatch.setenv("ANBU_WEB__PORT", "9002")
    settings = load_settings(toml)
    assert (settings.web.port, settings.web.host) == (9002, "0.0.0.0")  # env beats TOML
    settings = load_settings(toml, {"web.port": 9003})
    assert (settings.web.port, settings.web.host) == (9003, "0.0.0.0")  # flag beats env


def test_flag_keeps_other_env_fields_of_the_same_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANBU_WEB__HOST", "10.0.0.1")
    settings = load_settings(None, {"web.port": 9100})
    assert (settings.web.host, settings.web.port) == ("10.0.0.1", 9100)


@pytest.mark.parametrize(
    ("env", "value", "setting"),
    [
        ("ANBU_KAFKA__BOOTSTRAP_SERVERS", "nohost:notaport", "kafka.bootstrap_servers"),
        ("ANBU_KAFKA__BOOTSTRAP_SERVERS", "broker:70000", "kafka.bootstrap_servers"),
        ("ANBU_INFLUX__URL", "ftp://influx", "influx.url"),
        ("ANBU_WEB__PORT", "eighty", "web.port"),
        ("ANBU_INGEST__DEVICE_TIME_WINDOW", "soon", "ingest.device_time_window"),
        ("ANBU_MQTT__TOPIC_FILTERS", '["zigbee2mqtt/#/x"]', "mqtt.topic_filters"),
    ],
)
def test_bad_setting_names_itself(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, setting: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == setting
    assert setting in str(caught.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_cli_exits_2_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env["ANBU_KAFKA__BOOTSTRAP_SERVERS"] = "nohost:notaport"
    env["ANBU_STACK__DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "anbu", "up"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "kafka.bootstrap_servers" in lines[0]
    assert "ANBU_KAFKA__BOOTSTRAP_SERVERS" in lines[0]
    assert not (tmp_path / "run").exists()  # nothing was started


def test_secrets_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANBU_MQTT__PASSWORD", "hunter2-very-secret")
    monkeypatch.setenv("ANBU_ALERTS__WEBHOOK_SECRET", "whsec-very-secret")
    settings = load_settings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "hunter2" not in shown and "whsec" not in shown
    assert settings.mqtt_password() == "hunter2-very-secret"


def test_generated_secrets_are_private_and_stable(tmp_path: Path) -> None:
    settings = load_settings(None, {"stack.data_dir": str(tmp_path)})
    first = settings.mqtt_password()
    assert first == load_settings(None, {"stack.data_dir": str(tmp_path)}).mqtt_password()
    secret_file = tmp_path / "secrets" / "mqtt-service"
    assert secret_file.stat().st_mode & 0o777 == 0o600


def test_empty_env_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANBU_ALERTS__WEBHOOK_URL", "")
    assert load_settings().alerts.webhook_url is None
