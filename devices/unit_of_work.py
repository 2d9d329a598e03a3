"""One unit of work on the registry: commit, then publish what changed and sync Mosquitto.

The database is the truth: a change is committed first, then published to ``anbu.registry``
(:mod:`devices.publisher`) and written to Mosquitto's password and ACL files
(:mod:`devices.mqtt_accounts`). A failure after the commit is logged and left to the next
snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from config import Settings
from devices.changes import Changes, changes_of
from devices.db import init_db, session_factory
from devices.mqtt_accounts import sync_mosquitto
from devices.publisher import publish_changes


@contextmanager
def registry_session(
    settings: Settings, *, publish: bool = True, mqtt: bool = True
) -> Iterator[Session]:
    """A session that commits at the end, then publishes and rewrites Mosquitto's files.

    Args:
        settings: where the database, Kafka and Mosquitto's files are.
        publish: publish changed entities to ``anbu.registry`` after commit.
        mqtt: rewrite Mosquitto's password/ACL files (and reload it) if gateways or
            devices changed.

    A failure to publish is logged and left to the next snapshot: the database is the truth.
    """
    engine = init_db(settings)
    with session_factory(engine)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        changes = changes_of(session)
    apply_changes(settings, changes, publish=publish, mqtt=mqtt)


def apply_changes(
    settings: Settings, changes: Changes, *, publish: bool = True, mqtt: bool = True
) -> None:
    """Publish ``changes`` and rewrite Mosquitto's files (after a commit)."""
    if not changes:
        return
    engine = init_db(settings)
    if mqtt and changes.mqtt:
        sync_mosquitto(settings, engine)
    if publish:
        publish_changes(settings, engine, changes)
