"""Two ``anbu alerts`` processes in one consumer group on one real PostgreSQL store: every
alert notified once per channel and tier, escalation fired once, and an acknowledgement in
the shared store stops both instances' escalation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from alerts.directory import StaticDirectory
from alerts.lifecycle import Channels, Lifecycle
from alerts.store import AlertStore
from anbu.events import SosCause, SosEvent, SourceFormat
from anbu.sos import sos_alert
from anbu.stack.services import free_port
from anbu.timeutil import utcnow
from config import Settings
from testkit import processes
from testkit.http_stand_in import HttpStandIn, Posted
from testkit.polling import wait_for
from tests.kit.alerts import cli_flags
from tests.kit.postgres import new_postgres_database

ALERTS = 200
DELAY_S = 8  # escalation delay per tier (the default policy: three tiers)
SLOW_S = 0.2  # a webhook receiver across the internet answers in this long


class Deliveries:
    """A local webhook receiver that answers slowly and counts (alert id, tier) deliveries,
    and deliveries by ``Idempotency-Key`` (the notification's id). The requests of the
    notifications in ``held`` wait until ``gate`` is set."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()
        self.keys: Counter[str] = Counter()
        self.arrived: set[str] = set()
        self.held: set[str] = set()
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.server = HttpStandIn(self.answer)
        self.url = self.server.url("/hook")

    def answer(self, request: Posted) -> int:
        body = request.json()
        key = request.headers.get("Idempotency-Key", "")
        self.arrived.add(key)
        if key in self.held:
            self.gate.wait(30)
        time.sleep(SLOW_S)
        with self.lock:
            self.counts[(body["alert_id"], int(body["tier"]))] += 1
            self.keys[key] += 1
        return 200

    def snapshot(self) -> Counter[tuple[str, int]]:
        with self.lock:
            return Counter(self.counts)

    def close(self) -> None:
        self.gate.set()
        self.server.close()


@pytest.fixture
def deliveries() -> Iterator[Deliveries]:
    receiver = Deliveries()
    yield receiver
    receiver.close()


def start_service(
    settings: Settings, extra: dict[str, object], log: Path
) -> subprocess.Popen[bytes]:
    flags = cli_flags(settings, {**extra, "alerts.metrics_port": free_port()})
    return processes.spawn([sys.executable, "-m", "anbu", *flags, "alerts"], log,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_two_alerts_services_on_one_postgresql_notify_and_escalate_once(
    settings: Settings, deliveries: Deliveries, tmp_path: Path, unique: Any
) -> None:
    url = new_postgres_database()
    extra: dict[str, object] = {
        "alerts.database_url": url,
        "alerts.webhook_url": deliveries.url,
        "alerts.escalation_delay": f"{DELAY_S}s",
        "alerts.tick_interval": "0.1s",
        "alerts.group_id": f"anbu-alerts-{unique()}",
    }
    logs = [tmp_path / "alerts-a.log", tmp_path / "alerts-b.log"]
    services = [start_service(settings, extra, log) for log in logs]
    store = AlertStore(url)
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    try:
        time.sleep(8)  # both join the group (the first to start takes every partition first)
        for proc, log in zip(services, logs, strict=True):
            assert proc.poll() is None, log.read_text()[-3000:]
        now = utcnow()
        raises = []
        for n in range(ALERTS):
            # the SOS lane and the detector both deliver each SOS, as in the stack
            sos = SosEvent(household_id=f"hh-{n:03d}", device_id=f"btn-{n}",
                           cause=SosCause.BUTTON, event_time=now - timedelta(seconds=1),
                           receive_time=now, source_format=SourceFormat.ANBU,
                           idempotency_key=f"sos-scale-{n}")
            key = sos.household_id.encode()
            producer.send(settings.kafka.topics.sos, sos.to_json(), key=key)
            raise_ = sos_alert(sos)
            producer.send(settings.kafka.topics.alerts, raise_.to_json(), key=key)
            raises.append(raise_)
        producer.flush(30)
        ids = [r.alert_id for r in raises]
        acked = set(ids[::2])  # half are acknowledged as soon as their webhook arrived

        def first_tier_out() -> bool:
            got = deliveries.snapshot()
            return all(got[(i, 1)] for i in ids)

        # staff acknowledge in the inbox (anbu web), which writes the same store
        lifecycle = Lifecycle(store, StaticDirectory(), Channels())
        done: set[str] = set()
        deadline = time.monotonic() + 60
        while len(done) < len(acked) and time.monotonic() < deadline:
            got = deliveries.snapshot()
            for i in acked - done:
                if got[(i, 1)]:
                    lifecycle.acknowledge(i, "staff:test", "on my way", utcnow())
                    done.add(i)
            time.sleep(0.05)
        assert done == acked
        wait_for(first_tier_out, timeout_s=60, what="every tier-1 webhook")
        want = Counter({(i, 1): 1 for i in ids})
        want.update({(i, tier): 1 for i in ids if i not in acked for tier in (2, 3)})
        wait_for(lambda: +deliveries.snapshot() >= want, timeout_s=3 * DELAY_S + 60,
                 what="the escalations")
        time.sleep(DELAY_S + 2)  # an acknowledged alert escalating anyway would show now
        got = deliveries.snapshot()
        repeated = {k: n for k, n in got.items() if n > 1}
        assert not repeated, (len(repeated), sorted(repeated.items())[:10])
        assert got == want, (sorted(set(got) - set(want))[:10], sorted(set(want) - set(got))[:10])
        assert store.counts() == {"open": ALERTS - len(acked), "acknowledged": len(acked)}
        for proc, log in zip(services, logs, strict=True):
            assert proc.poll() is None, log.read_text()[-3000:]
        # both instances took part: each consumed some of the partitions
        texts = [log.read_text() for log in logs]
        assert all("alert " in t and " opened: " in t for t in texts), [t[-1500:] for t in texts]
        assert not any("Traceback" in t for t in texts), [t[-3000:] for t in texts]
    finally:
        producer.close()
        processes.stop(*services, timeout_s=30)
        store.close()


def test_the_alert_store_on_postgresql_opens_an_alert_and_sees_its_repeat() -> None:
    # SQLAlchemy 2.1 with psycopg 3 reports a rowcount of -1 for INSERT ... ON CONFLICT DO
    # NOTHING; read as "already seen", every first event on PostgreSQL was a duplicate
    from tests.kit.alerts import make_event

    store = AlertStore(new_postgres_database())
    try:
        lifecycle = Lifecycle(store, StaticDirectory(), Channels(webhook_url="http://hook/"))
        event = make_event("hh-pg")
        first = lifecycle.apply(event, utcnow())
        assert first.created and not first.duplicate and len(first.notifications) == 1
        assert lifecycle.apply(event, utcnow()).duplicate
        assert store.counts() == {"open": 1}
        ident = first.notifications[0]
        assert store.claim(ident, utcnow(), 30)
        assert not store.claim(ident, utcnow(), 30)  # held by the first claimant
        assert store.claim(ident, utcnow() + timedelta(seconds=31), 30)  # expired: taken over
    finally:
        store.close()


def test_a_notification_waiting_for_a_slot_longer_than_the_lease_is_sent_once() -> None:
    """Two dispatchers (alerts services) on one PostgreSQL store. The first has one sending
    slot, busy with a slow webhook, and the second notification waits for it longer than a
    claim's lease; meanwhile the second service sends that notification. The first must not
    send it again once its slot is free (its claim, taken before the wait, had expired)."""
    import asyncio

    from alerts.dispatch import Dispatcher
    from alerts.model import NotificationStatus
    from alerts.notifiers.webhook import WebhookNotifier
    from tests.kit.alerts import make_event

    store = AlertStore(new_postgres_database())
    receiver = Deliveries()
    try:
        lifecycle = Lifecycle(store, StaticDirectory(), Channels(webhook_url=receiver.url))
        slow, queued = (lifecycle.apply(make_event(hh), utcnow()).notifications[0]
                        for hh in ("hh-slow", "hh-queued"))
        receiver.held.add(slow)
        notifiers = [WebhookNotifier(StaticDirectory(), receiver.url, None) for _ in range(2)]
        # a lease of 0.5 s (0.1 + 2 x 0.2), so a queue outlasts it without a long test
        first, second = (Dispatcher(store, {"webhook": n}, concurrency=1, backoff_max_s=0.1,
                                    send_timeout_s=0.2) for n in notifiers)

        async def run() -> None:
            first.send([slow])
            while slow not in receiver.arrived:  # the slot is busy with the slow webhook
                await asyncio.sleep(0.05)
            first.send([queued])  # waits for the slot
            await asyncio.sleep(first.lease_s + 0.5)
            assert second.send([queued]) == 1  # another service sends it meanwhile
            await second.drain()
            assert receiver.keys[queued] == 1  # the control: it was sent
            receiver.gate.set()
            await first.drain()
            for notifier in notifiers:
                await notifier.close()

        asyncio.run(run())
        assert receiver.keys == {slow: 1, queued: 1}  # each sent once
        for ident in (slow, queued):
            stored = store.get_notification(ident)
            assert stored is not None and stored.status is NotificationStatus.SENT
    finally:
        receiver.close()
        store.close()
