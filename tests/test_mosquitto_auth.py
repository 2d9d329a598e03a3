"""Restarting the stack keeps the registry's gateway accounts in Mosquitto's files."""

from __future__ import annotations

from pathlib import Path

from anbu.mosquitto_auth import (
    MqttAccount,
    hash_password,
    password_matches,
    service_account,
    write_auth_files,
)
from anbu.stack.services import mosquitto_spec


def _users(path: Path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in path.read_text().splitlines() if line)


def test_restart_keeps_gateways_and_renews_the_service_account(tmp_path: Path) -> None:
    gateway = MqttAccount("gw-1", hash_password("gw-secret"), write=("zigbee2mqtt/gw-1/#",))
    write_auth_files(
        tmp_path / "passwd", tmp_path / "acl", [gateway, service_account("anbu-service", "old")]
    )
    mosquitto_spec(tmp_path, 1883, service_user=("anbu-service", "new"))
    users = _users(tmp_path / "passwd")
    assert password_matches("gw-secret", users["gw-1"])
    assert password_matches("new", users["anbu-service"])
    assert not password_matches("old", users["anbu-service"])
    acl = (tmp_path / "acl").read_text()
    assert "user gw-1\ntopic write zigbee2mqtt/gw-1/#" in acl
    assert acl.count("user anbu-service\n") == 1


def test_fresh_directory_gets_only_the_service_account(tmp_path: Path) -> None:
    mosquitto_spec(tmp_path, 1883, service_user=("anbu-service", "pw"))
    assert list(_users(tmp_path / "passwd")) == ["anbu-service"]
    assert "user anbu-service\ntopic readwrite #" in (tmp_path / "acl").read_text()
