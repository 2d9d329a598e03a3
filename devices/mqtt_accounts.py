"""Gateways' MQTT accounts: Mosquitto's password and ACL files, rewritten from the registry.

A gateway may publish only under its household's device topics (each base topic and
``<base>/#``) and ``anbu/<gateway_id>/#``, and may subscribe only to its robots'
``<base>/command``. The service account of anbu's own processes is always included.
"""

from __future__ import annotations

import fcntl
import logging
from collections import defaultdict
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from anbu.mosquitto_auth import (
    MqttAccount,
    reload_mosquitto,
    service_account,
    write_auth_files,
)
from config import Settings
from devices.models import Device, Gateway

log = logging.getLogger(__name__)


def mosquitto_dir(settings: Settings) -> Path:
    """Where the stack's Mosquitto keeps ``passwd``, ``acl`` and ``mosquitto.pid``."""
    configured = settings.registry.mosquitto_dir
    return configured.resolve() if configured is not None else settings.data_dir / "mosquitto"


def gateway_accounts(session: Session) -> list[MqttAccount]:
    """One account per active gateway, with the topics it may use."""
    topics: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
    for household_id, topic, kind, gateway_id in session.execute(
        select(Device.household_id, Device.mqtt_topic, Device.kind, Device.gateway_id).where(
            Device.retired_at.is_(None)
        )
    ):
        topics[household_id].append((topic, kind, gateway_id))
    accounts = []
    for gateway in session.scalars(select(Gateway).where(Gateway.retired_at.is_(None))):
        write = {f"anbu/{gateway.id}/#"}
        read: set[str] = set()
        for topic, kind, owner in topics.get(gateway.household_id, []):
            # A device tied to another gateway of the same home is that gateway's alone.
            if owner is not None and owner != gateway.id:
                continue
            write.update({topic, f"{topic}/#"})
            if kind == "robot":
                read.add(f"{topic}/command")
        accounts.append(
            MqttAccount(
                gateway.id, gateway.password_hash, tuple(sorted(read)), tuple(sorted(write))
            )
        )
    return accounts


def sync_mosquitto(settings: Settings, engine: Engine) -> bool:
    """Rewrite Mosquitto's password and ACL files from the registry and make it reload them.

    Returns:
        True if a running Mosquitto was signalled; False if none runs (files still written).
    """
    directory = mosquitto_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    with Session(engine) as session:
        accounts = gateway_accounts(session)
    accounts.append(service_account(settings.mqtt.username, settings.mqtt_password()))
    # Two processes (web, CLI) may rewrite at once; write_auth_files uses a fixed temp name.
    with (directory / ".registry.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        write_auth_files(directory / "passwd", directory / "acl", accounts)
        reloaded = reload_mosquitto(directory / "mosquitto.pid")
    log.info(
        "mosquitto accounts rewritten: %d gateway(s), reloaded=%s", len(accounts) - 1, reloaded
    )
    return reloaded


def accounts_current(settings: Settings, engine: Engine) -> bool:
    """Whether Mosquitto's password file holds exactly the accounts the registry expects.

    Something else may rewrite the file (a fresh ``anbu up`` writes only the service
    account); this lets the web process notice and restore the gateways' accounts.
    """
    path = mosquitto_dir(settings) / "passwd"
    try:
        users = {line.split(":", 1)[0] for line in path.read_text().splitlines() if ":" in line}
    except FileNotFoundError:
        return False
    with Session(engine) as session:
        wanted = set(session.scalars(select(Gateway.id).where(Gateway.retired_at.is_(None))))
    return users == wanted | {settings.mqtt.username}
