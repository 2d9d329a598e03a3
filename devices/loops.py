"""The registry's start-up and shut-down in the web process, and its background loops.

The loops republish the registry to Kafka, learn devices' last reports and keep
Mosquitto's accounts in step with the registry. A failure in one round is logged and the
next round retries; nothing here may crash the web process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from sqlalchemy import Engine

from anbu.health import kafka_heartbeat
from config import Settings
from devices import tokens
from devices.db import init_db, session_factory
from devices.last_seen import LastSeenConsumer
from devices.lookup import RegistryLookup
from devices.mqtt_accounts import accounts_current, sync_mosquitto
from devices.publisher import close_producers, publish_snapshot, registry_lost, snapshot_wanted

log = logging.getLogger(__name__)


async def startup(app: FastAPI, settings: Settings) -> None:
    """Prepare the registry for the web process.

    Migrates, ensures the admin token and rewrites Mosquitto's files; then, in the
    background, republishes the registry to Kafka (now and every
    ``registry.snapshot_interval``) and learns devices' last reports from ``anbu.events``.
    """
    engine = await asyncio.to_thread(init_db, settings)
    app.state.registry_engine = engine
    app.state.registry_lookup = RegistryLookup(engine)

    def prepare() -> None:
        with session_factory(engine)() as session:
            tokens.ensure_admin_token(session, settings.admin_token())
            session.commit()
        sync_mosquitto(settings, engine)

    await asyncio.to_thread(prepare)
    consumer = LastSeenConsumer(settings, engine)
    app.state.registry_last_seen = consumer
    app.state.registry_heartbeat = kafka_heartbeat(settings, "web")
    app.state.registry_tasks = [
        asyncio.create_task(_snapshot_loop(settings, engine), name="registry-snapshot"),
        asyncio.create_task(consumer.run(), name="registry-last-seen"),
        asyncio.create_task(_mqtt_watch_loop(settings, engine), name="registry-mqtt-watch"),
    ]


MQTT_WATCH_S = 30.0
REGISTRY_CHECK_S = 2.0
"""How often the web process checks that Kafka still has the registry topic."""


async def _mqtt_watch_loop(settings: Settings, engine: Engine) -> None:
    """Restore the gateways' MQTT accounts if Mosquitto's files were rewritten by others."""
    while True:
        await asyncio.sleep(MQTT_WATCH_S)
        try:
            if not await asyncio.to_thread(accounts_current, settings, engine):
                log.warning("Mosquitto's accounts differ from the registry; rewriting them")
                await asyncio.to_thread(sync_mosquitto, settings, engine)
        except Exception as exc:  # noqa: BLE001 - keep watching; the next round retries
            log.warning("could not check Mosquitto's accounts (%s)", type(exc).__name__)


async def _snapshot_loop(settings: Settings, engine: Engine) -> None:
    loop = asyncio.get_running_loop()
    delay = 1.0
    while True:
        try:
            count = await asyncio.to_thread(publish_snapshot, settings, engine)
        except Exception as exc:  # noqa: BLE001 - Kafka down: retry, never crash the web
            log.warning("registry snapshot not published (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
            continue
        log.info("registry snapshot published: %d records", count)
        delay = 1.0
        due = loop.time() + settings.registry.snapshot_interval.total_seconds()
        # A broker that lost the registry (restarted without its data) gets it back at
        # once: the bridge would otherwise dead-letter every device as unregistered.
        await asyncio.to_thread(registry_lost, settings)  # the ends just after publishing
        while loop.time() < due and not snapshot_wanted():
            await asyncio.sleep(min(REGISTRY_CHECK_S, max(0.0, due - loop.time())))
            if await asyncio.to_thread(registry_lost, settings):
                break


async def shutdown(app: FastAPI) -> None:
    """Stop the background tasks and flush the Kafka producer."""
    heartbeat = getattr(app.state, "registry_heartbeat", None)
    if heartbeat is not None:
        heartbeat.stop()
    for task in getattr(app.state, "registry_tasks", []):
        task.cancel()
    for task in getattr(app.state, "registry_tasks", []):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await asyncio.to_thread(close_producers)
