"""The embedded broker's costs: start-up, memory, throughput, and a Faust worker's group join.

A broker of the benchmark's own is started on free ports with the same spec ``anbu up``
uses (Apache Kafka, or Tansu to compare), and measured:

* start-up: process start → it takes writes and names a group coordinator (the readiness
  check ``anbu up`` waits for); on a new data folder (after the once-only storage format,
  timed apart) and again on the same folder after a SIGKILL;
* resident memory (VmRSS) once ready, and after the records below;
* 300-byte records produced (acks=all) and read back;
* ``anbu worker``'s first join of its group (process start → first partition assigned), and
  a second worker's join after the first was SIGKILLed (the broker waits for the dead
  member's session to time out).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from anbu.kafka_topics import ensure_topics
from anbu.stack.apache_kafka import READY_TIMEOUT_S, apache_kafka_spec
from anbu.stack.services import ServiceSpec, free_port, tansu_spec, wait_ready
from config import Settings, load_settings
from testkit import processes
from testkit.services import start


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class _Broker:
    def __init__(self, spec: ServiceSpec, log: Path) -> None:
        self.spec, self.log = spec, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; return the seconds until ready."""
        began = time.monotonic()
        self.process = start(self.spec, self.log)
        wait_ready(self.spec, READY_TIMEOUT_S)
        return round(time.monotonic() - began, 2)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None:
            processes.stop(self.process, timeout_s=60, sig=sig)


def _throughput(settings: Settings, records: int, size: int) -> dict[str, float]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = settings.kafka.topics.events
    value = b"x" * size
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
    )
    began = time.monotonic()
    for i in range(records):
        producer.send(topic, key=f"hh-{i % 1000}".encode(), value=value)
    producer.flush(300)
    produced = time.monotonic() - began
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False
    )
    parts = [
        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    began, seen = time.monotonic(), 0
    while seen < records and time.monotonic() - began < 300:
        for batch in consumer.poll(timeout_ms=500, max_records=50_000).values():
            seen += len(batch)
    read = time.monotonic() - began
    consumer.close()
    return {"records": seen, "produce_s": round(produced, 2), "read_s": round(read, 2)}


def _worker_join(
    env: dict[str, str], log: Path, timeout_s: float = 300
) -> tuple[float, subprocess.Popen[bytes]]:
    """Start ``anbu worker``; return seconds until its first partition, and the process."""
    began = time.monotonic()
    log.unlink(missing_ok=True)
    worker = processes.spawn([sys.executable, "-m", "anbu", "worker"], log, env=env)
    while "restored" not in log.read_text(errors="replace"):
        if time.monotonic() - began > timeout_s or worker.poll() is not None:
            processes.kill(worker)
            raise RuntimeError(f"the worker did not join; see {log}")
        time.sleep(0.05)
    return round(time.monotonic() - began, 2), worker


def run(broker: str = "apache", records: int = 100_000, size: int = 300) -> dict[str, Any]:
    """Measure the broker ``broker`` ("apache" or "tansu"); return the figures."""
    with tempfile.TemporaryDirectory(prefix="anbu-bench-kafka-") as tmp:
        base = Path(tmp)
        began = time.monotonic()
        if broker == "tansu":
            spec = tansu_spec(free_port())
        else:
            spec = apache_kafka_spec(base / "kafka", free_port(), free_port())
        prepared_s = round(time.monotonic() - began, 2)  # Apache: the storage format
        running = _Broker(spec, base / "broker.log")
        figures: dict[str, Any] = {"broker": broker, "prepare_s": prepared_s}
        try:
            figures["start_new_s"] = running.start()
            assert running.process is not None
            figures["rss_ready_mb"] = rss_mb(running.process.pid)
            settings = load_settings(
                None,
                {
                    "kafka.bootstrap_servers": f"127.0.0.1:{spec.port}",
                    "stack.data_dir": str(base / "var"),
                },
            )
            ensure_topics(settings)
            figures["throughput"] = _throughput(settings, records, size)
            figures["rss_loaded_mb"] = rss_mb(running.process.pid)
            env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
            env.update(
                {
                    "ANBU_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{spec.port}",
                    "ANBU_STACK__DATA_DIR": str(base / "var"),
                    "ANBU_DETECTORS__WEB_PORT": str(free_port()),
                }
            )
            figures["worker_first_join_s"], worker = _worker_join(env, base / "worker1.log")
            time.sleep(3)
            processes.kill(worker)
            figures["worker_rejoin_after_sigkill_s"], worker = _worker_join(
                env, base / "worker2.log"
            )
            processes.stop(worker, timeout_s=60)
            running.kill()
            figures["start_after_sigkill_s"] = running.start()
            figures["records_after_restart"] = _count(settings)
        finally:
            running.kill(signal.SIGTERM)
            shutil.rmtree(base / "var", ignore_errors=True)
    return figures


def _count(settings: Settings) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        topic = settings.kafka.topics.events
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        return sum(consumer.end_offsets(parts).values()) if parts else 0
    finally:
        consumer.close()
