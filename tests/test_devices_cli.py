"""``anbu devices`` as an installer uses it in the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from anbu.cli import app, build_app
from anbu.registry_records import parse_registry_record
from config import Settings
from devices.db import init_db
from devices.lookup import RegistryLookup
from devices.models import ApiToken
from devices.principals import hash_token
from tests.kit.registry import read_registry


@pytest.fixture
def anbu(make_settings: Callable[..., Settings]) -> Callable[..., tuple[int, str, str]]:
    settings = make_settings()
    build_app(["devices"])
    runner = CliRunner()
    base = [
        "--data-dir",
        str(settings.data_dir),
        "--set",
        f"kafka.bootstrap_servers={settings.kafka.bootstrap_servers[0]}",
        "--set",
        f"kafka.topics.registry={settings.kafka.topics.registry}",
        "--set",
        f"mqtt.password={settings.mqtt_password()}",
    ]

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, [*base, "devices", *args])
        return result.exit_code, result.stdout, result.stderr

    run.settings = settings  # type: ignore[attr-defined]
    return run


def test_installer_registers_a_home_from_the_field(
    anbu: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    settings: Settings = anbu.settings  # type: ignore[attr-defined]
    code, out, err = anbu("add-center", "cc-01", "Mapo Welfare Center", "--dong", "Seogyo-dong")
    assert code == 0, err
    code, out, err = anbu(
        "add-household",
        "--center",
        "cc-01",
        "--dong",
        "Seogyo-dong",
        "--quiet-hours",
        "22:00-06:00",
        "--resident-name",
        "Hong Gildong",
        "--resident-phone",
        "010-1234-5678",
        "--consent",
    )
    assert code == 0, err
    household = out.strip()
    assert household.startswith("hh-")
    code, out, err = anbu("add-gateway", household)
    assert code == 0, err
    gateway = out.split("gateway:")[1].split()[0]
    assert "mqtt password:" in out and "shown only once" in out
    code, out, err = anbu(
        "add-device",
        household,
        "--kind",
        "motion",
        "--format",
        "zigbee2mqtt",
        "--topic",
        "zigbee2mqtt/hall_pir",
        "--room",
        "hall",
        "--gateway",
        gateway,
    )
    assert code == 0, err
    device = out.strip()

    code, out, err = anbu(
        "add-device", household, "--kind", "toaster", "--format", "zigbee2mqtt", "--topic", "z/x"
    )
    assert code == 1 and "kind" in err and "toaster" in err

    code, out, err = anbu("check", household)
    assert code == 1 and "never" in out and device in out

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "care_center_id,dong,device_kind,source_format,mqtt_topic\ncc-01,A,motion,zigbee2mqtt,zigbee2mqtt/hall_pir\ncc-02,A,plug,tasmota,tele/t1\n"
    )
    code, out, err = anbu("import", str(bad))
    assert code == 1
    assert "line 2: mqtt_topic" in err and "line 3: care_center_id" in err
    good = tmp_path / "good.csv"
    good.write_text(
        "care_center_id,dong,device_kind,source_format,mqtt_topic\ncc-01,A,plug,tasmota,tele/t1\n"
    )
    code, out, err = anbu("import", str(good))
    assert code == 0 and "imported 1 household(s), 1 device(s)" in out, err

    code, out, err = anbu(
        "token", "create", "--role", "staff", "--center", "cc-01", "--name", "kim"
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("anbu_")
    principal = RegistryLookup.from_settings(settings).authenticate(token)
    assert principal is not None and principal.care_center_id == "cc-01"
    with Session(init_db(settings)) as session:
        stored = list(session.scalars(select(ApiToken.token_hash)))
    assert token not in stored and hash_token(token) in stored
    code, out, err = anbu("token", "create", "--role", "staff")
    assert code == 1 and "care_center_id" in err

    code, out, err = anbu("list", "--center", "cc-01")
    assert code == 0 and household in out and out.count("\n") == 2

    latest = read_registry(settings, lambda r: f"device:{device}".encode() in r)
    record = parse_registry_record(latest[f"device:{device}".encode()])
    assert record.type == "device" and record.mqtt_topic == "zigbee2mqtt/hall_pir"
    assert b"Hong" not in b"".join(latest.values())
    assert f"user {gateway}" in (settings.data_dir / "mosquitto" / "acl").read_text()


def test_the_cli_applies_the_api_field_rules(anbu: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = anbu("add-center", "cc-r", "Rules Center")
    assert code == 0, err
    ok_dong = "d" * 100  # the largest the API takes (the database column's width)
    code, out, err = anbu("add-household", "--center", "cc-r", "--dong", ok_dong)
    assert code == 0, err
    household = out.strip()
    code, _, err = anbu("add-household", "--center", "cc-r", "--dong", ok_dong + "d")
    assert code == 1 and "dong" in err and "100 characters" in err, err
    for hours in ("nan", "inf", "337"):
        code, _, err = anbu("add-household", "--center", "cc-r", "--dong", "d",
                            "--inactivity-hours", hours)
        assert code == 1 and "inactivity_hours" in err, (hours, err)
    device = ("add-device", household, "--kind", "motion", "--format", "zigbee2mqtt")
    code, _, err = anbu(*device, "--topic", "z2m/r1", "--room", "r" * 101)
    assert code == 1 and "room" in err, err
    code, _, err = anbu(*device, "--topic", "z2m/r1", "--room", "r" * 100)
    assert code == 0, err


def test_contacts_replacements_retirements_and_revoked_tokens(
    anbu: Callable[..., tuple[int, str, str]],
) -> None:
    settings: Settings = anbu.settings  # type: ignore[attr-defined]
    assert anbu("add-center", "cc-x", "Exchange Center")[0] == 0
    code, out, err = anbu("add-household", "--center", "cc-x", "--dong", "A")
    assert code == 0, err
    household = out.strip()
    code, out, err = anbu("add-contact", household, "--tier", "1", "--name", "Kim",
                          "--phone", "010-0000-0000", "--relation", "daughter")
    assert code == 0 and out.startswith("contact ") and "at tier 1" in out, err
    code, _, err = anbu("add-contact", household, "--tier", "0", "--name", "Lee")
    assert code == 1 and "tier" in err, err

    code, out, err = anbu("add-device", household, "--kind", "motion", "--format",
                          "zigbee2mqtt", "--topic", "zigbee2mqtt/old_pir", "--id", "dev-old")
    assert code == 0 and out.strip() == "dev-old", err
    code, out, err = anbu("replace-device", "dev-old", "--id", "dev-new")
    assert code == 0 and out.strip() == "dev-new", err
    code, _, err = anbu("replace-device", "dev-missing", "--id", "dev-other")
    assert code == 1 and "dev-missing" in err, err
    code, out, err = anbu("retire-device", "dev-new")
    assert code == 0 and out.strip() == "dev-new retired", err

    code, out, err = anbu("token", "create", "--role", "installer", "--name", "park")
    assert code == 0, err
    token_id = err.split("token id:")[1].split()[0]
    assert RegistryLookup.from_settings(settings).authenticate(out.strip()) is not None
    code, out, err = anbu("token", "revoke", token_id)
    assert code == 0 and out.strip() == f"{token_id} revoked", err
    code, out, _ = anbu("token", "list")
    assert code == 0 and f"{token_id}\tinstaller\t*\tpark\trevoked " in out

    code, out, err = anbu("retire-household", household)
    assert code == 0 and out.strip() == f"{household} retired", err
    code, out, _ = anbu("list", "--center", "cc-x")
    assert code == 0 and household not in out
    assert anbu("add-household", "--center", "cc-x", "--dong", "B")[0] == 0
    assert anbu("list", "--center", "cc-x")[1].count("\n") == 1  # positive control
