"""``anbu alerts`` exits with :data:`EXIT_GAVE_UP` when PostgreSQL or Kafka stays away too long.

Its escalation loop reads the alert store every ``alerts.tick_interval``; with the database
refusing connections each run of the loop fails, is restarted after a wait that doubles
from ``kafka.consumers.first_delay`` up to ``max_delay``, and after ``give_up_after``
failures in a row the process exits with code 3 for its supervisor (``anbu up``,
systemd, Docker) to restart it. With the settings here the bound is about 0.5 + 1 + 1 s of
waits after the first failure (4 failures): the test allows 60 s on a loaded machine.

Control: the same service whose database comes back after one failure keeps running (the
wait doubles, so it is back before the fourth failure) and still records alerts.

Kafka: an idle service (no alert coming) whose broker is killed exits the same way. Its
consumers commit after records, and also every ``IDLE_COMMIT_S`` (5 s) without one, so the
lost broker shows as failing commits; before that, the idle service ran on without its
broker for good. Control: idle with its broker, it keeps running past several idle commits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer

from alerts.store import AlertStore
from anbu.events import SosCause, SosEvent, SourceFormat
from anbu.kafka_consumers import EXIT_GAVE_UP, IDLE_COMMIT_S
from anbu.stack.services import free_port
from anbu.timeutil import utcnow
from config import Settings
from testkit import processes
from testkit.polling import wait_for
from testkit.services import RunningService, running, settings_for, start_kafka
from tests.kit.alerts import cli_flags
from tests.kit.postgres import new_postgres_database

GIVE_UP_AFTER = 4
POLICY = {
    "kafka.consumers.first_delay": "500ms",
    "kafka.consumers.max_delay": "1s",
    "kafka.consumers.give_up_after": GIVE_UP_AFTER,
    "alerts.tick_interval": "0.1s",
}


def _start(settings: Settings, extra: dict[str, object], log: Path) -> subprocess.Popen[bytes]:
    flags = cli_flags(settings, {**POLICY, **extra, "alerts.metrics_port": free_port()})
    return processes.spawn([sys.executable, "-m", "anbu", *flags, "alerts"], log,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _show(process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    lines = log.read_bytes().decode(errors="replace").splitlines()
    print("\n".join(line for line in lines if " aiokafka" not in line)[-4000:])


def _allow_connections(url: str, allow: bool) -> None:
    """Let the database take connections, or refuse them and end the ones it has."""
    name = url.rsplit("/", 1)[1]
    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def _send_sos(settings: Settings, n: int) -> None:
    now = utcnow()
    sos = SosEvent(household_id=f"hh-{n:03d}", device_id=f"btn-{n}", cause=SosCause.BUTTON,
                   event_time=now - timedelta(seconds=1), receive_time=now,
                   source_format=SourceFormat.ANBU, idempotency_key=f"sos-gives-up-{n}")
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    producer.send(settings.kafka.topics.sos, sos.to_json(), key=sos.household_id.encode())
    producer.flush()
    producer.close()


def _alerts(url: str) -> int:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT count(*) FROM alerts").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("database_back", [False, True], ids=["stays-away", "back-in-time"])
def test_alerts_service_exits_for_its_supervisor_when_postgresql_stays_away(
    make_settings: Callable[..., Settings], unique: Callable[[], str], tmp_path: Path,
    database_back: bool,
) -> None:
    settings = make_settings()
    url = new_postgres_database()
    AlertStore(url).close()  # the tables, so the control can count alerts
    log = tmp_path / "alerts.log"
    process = _start(settings, {"alerts.database_url": url,
                                "alerts.group_id": f"anbu-alerts-{unique()}"}, log)
    try:
        wait_for(lambda: b"alerts service consuming" in log.read_bytes(), 60, step_s=0.5,
                 what="the alerts service started")
        _send_sos(settings, 1)
        wait_for(lambda: _alerts(url) == 1, 60, step_s=0.5,
                 what="the first SOS recorded")
        cut = time.monotonic()
        _allow_connections(url, False)
        wait_for(lambda: b"alerts escalation failed" in log.read_bytes(), 30, step_s=0.5,
                 what="the escalation loop failed on the lost database")
        if not database_back:
            wait_for(lambda: process.poll() is not None, 60, step_s=0.5,
                 what="anbu alerts exited")
            text = log.read_bytes().decode(errors="replace")
            assert process.returncode == EXIT_GAVE_UP, text[-3000:]
            assert f"failed {GIVE_UP_AFTER} times in a row" in text
            print(f"anbu alerts exited {time.monotonic() - cut:.1f} s after the database "
                  "refused connections")
            return
        _allow_connections(url, True)
        time.sleep(10)  # longer than the bound: it would have given up by now
        assert process.poll() is None, log.read_text()[-3000:]
        _send_sos(settings, 2)
        wait_for(lambda: _alerts(url) == 2, 60, step_s=0.5,
                 what="an SOS after the outage recorded")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        _allow_connections(url, True)
        _show(process, log)


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[RunningService]:
    """A broker of this test's own, to kill."""
    spec, log = start_kafka(tmp_path / "kafka")
    with running(spec, log, 120) as service:
        yield service


def test_idle_alerts_service_exits_for_its_supervisor_when_kafka_stays_away(
    tmp_path: Path, own_kafka: RunningService, influxdb: RunningService,
    unique: Callable[[], str],
) -> None:
    settings = settings_for(tmp_path / "var", None, own_kafka, influxdb)
    log = tmp_path / "alerts.log"
    process = _start(settings, {"alerts.database_url": new_postgres_database(),
                                "alerts.group_id": f"anbu-alerts-{unique()}",
                                "kafka.consumers.commit_timeout": "2s",
                                "kafka.consumers.commit_failures": 2}, log)
    try:
        wait_for(lambda: b"alerts service consuming" in log.read_bytes(), 60, step_s=0.5,
                 what="the alerts service started")
        # control: idle with its broker, the idle commits work and it runs on
        time.sleep(IDLE_COMMIT_S * 3)
        assert process.poll() is None, log.read_text()[-3000:]
        assert b"offset commit failed" not in log.read_bytes()
        own_kafka.kill()
        killed = time.monotonic()
        wait_for(lambda: process.poll() is not None, 120, step_s=0.5,
                 what="anbu alerts exited")
        text = log.read_bytes().decode(errors="replace")
        assert process.returncode == EXIT_GAVE_UP, text[-3000:]
        assert "offset commit failed" in text
        assert f"failed {GIVE_UP_AFTER} times in a row" in text
        print(f"anbu alerts exited {time.monotonic() - killed:.1f} s after its broker was killed")
    finally:
        _show(process, log)
