"""``anbu bench scale``: detector workers in one consumer group, one against several.

Numbers measured in one run on one private Apache Kafka broker; nothing here asserts a
target. For each number of workers the same backlog is written to fresh topics and the
workers are started together; their time runs from the first marker alert to the last, as
their producers stamped them (so it includes the group's start-up rebalance, as a real
start would). Then two workers share a settled group, one is SIGKILLed, and the survivor's
time to restore the dead one's partitions is read off its log.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.detectors import kafka_broker, produce_backlog, start_worker, timed_workers

RESTORED = re.compile(r"partition (\d+): restored")


def _settings(port: int, data_dir: Path) -> Any:
    from anbu.stack.services import free_port
    from config import load_settings

    suffix = uuid.uuid4().hex[:8]
    return load_settings(None, {
        "kafka.bootstrap_servers": f"127.0.0.1:{port}",
        "stack.data_dir": str(data_dir),
        "detectors.web_port": free_port(),
        "detectors.app_id": f"anbu-bench-scale-{suffix}",
        **{f"kafka.topics.{name}": f"anbu.{name}.{suffix}"
           for name in ("events", "sos", "alerts", "deadletter", "registry")},
    })


def throughput(port: int, tmp: Path, events: int, batch: int, copies: int) -> dict[str, Any]:
    """Events per second of ``copies`` workers over one backlog of ``events``.

    Args:
        port: the broker's.
        tmp: a new directory for this run's state and logs.
        events: the backlog's size.
        batch: events per record.
        copies: how many workers share the group.
    """
    from anbu.kafka_topics import ensure_topics

    settings = _settings(port, tmp / "var")
    ensure_topics(settings)
    total, _, markers = produce_backlog(settings, events, batch)
    seconds = timed_workers(settings, tmp, markers, copies)
    return {"workers": copies, "events": total,
            "seconds": round(seconds, 2) if seconds else None,
            "events_per_s": round(total / seconds) if seconds else None}


def _restored(log: Path) -> list[int]:
    return [int(m) for m in RESTORED.findall(log.read_text())] if log.exists() else []


def handover(port: int, tmp: Path, timeout_s: float = 180) -> dict[str, Any]:
    """Seconds for a survivor to restore a SIGKILLed worker's partitions (idle group)."""
    from anbu.kafka_topics import ensure_topics
    from anbu.stack.services import free_port

    settings = _settings(port, tmp / "var-handover")
    ensure_topics(settings)
    partitions = set(range(settings.kafka.topics.partitions))
    logs = [tmp / f"handover-{n}.log" for n in (1, 2)]
    procs: list[subprocess.Popen[bytes]] = []
    figures: dict[str, Any] = {}
    try:
        began = time.monotonic()
        procs.append(start_worker(settings, settings.data_dir / "w1", free_port(), logs[0]))
        # the second joins once the first owns everything: the usual way a group grows
        while set(_restored(logs[0])) != partitions:
            if time.monotonic() - began > timeout_s:
                raise TimeoutError(f"first worker never owned {partitions}")
            time.sleep(0.1)
        figures["first_owns_all_s"] = round(time.monotonic() - began, 2)
        joined = time.monotonic()
        procs.append(start_worker(settings, settings.data_dir / "w2", free_port(), logs[1]))
        while not _restored(logs[1]):
            if time.monotonic() - joined > timeout_s:
                raise TimeoutError("second worker never got a partition")
            time.sleep(0.1)
        figures["second_join_s"] = round(time.monotonic() - joined, 2)
        time.sleep(3)  # the group settles
        owned_2 = set(_restored(logs[1]))
        before = len(_restored(logs[0]))
        killed = time.monotonic()
        procs[1].kill()
        while not owned_2 <= set(_restored(logs[0])[before:]):
            if time.monotonic() - killed > timeout_s:
                raise TimeoutError("the survivor never restored the dead worker's partitions")
            time.sleep(0.1)
        figures["handover_after_sigkill_s"] = round(time.monotonic() - killed, 2)
        figures["partitions_moved"] = len(owned_2)
        figures["session_timeout_s"] = settings.detectors.broker_session_timeout
        return figures
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(events: int = 1_000_000, batch: int = 50, copies: tuple[int, ...] = (1, 2)
        ) -> dict[str, Any]:
    """Throughput for each number of workers, and the handover time, in one run."""
    with (tempfile.TemporaryDirectory(prefix="anbu-bench-scale-") as name,
          kafka_broker(Path(name)) as port):
        tmp = Path(name)
        rows = []
        for i, n in enumerate(copies):
            (tmp / f"run-{i}").mkdir()
            rows.append(throughput(port, tmp / f"run-{i}", events, batch, n))
        one = rows[0]["events_per_s"]
        for row in rows:
            row["vs_one"] = round(row["events_per_s"] / one, 2) \
                if one and row["events_per_s"] else None
        return {"throughput": rows, "handover": handover(port, tmp)}
