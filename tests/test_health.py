"""Heartbeat files and the verdict ``anbu status`` draws from them."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from anbu.health import (
    Heartbeat,
    KafkaReachable,
    LoopTick,
    Report,
    Verdict,
    health_path,
    instance_name,
    kafka_heartbeat,
    note_error,
    verdict,
)
from anbu.stack.services import free_port
from config import Settings
from testkit.services import RunningService
from tests.kit.detector_worker import Worker


def test_a_problem_or_a_stale_file_is_degraded_and_a_good_beat_is_not(tmp_path: Path) -> None:
    problem: list[str | None] = [None]
    beat = Heartbeat(tmp_path, "bridge", [lambda: Report(problem[0], {"acked": 3})], 0.05)
    beat.start()
    try:
        good = verdict(tmp_path, "bridge", os.getpid())
        assert not good.degraded and good.body["facts"] == {"acked": 3}
        problem[0] = "Kafka has confirmed nothing for 12 s"
        time.sleep(0.3)
        bad = verdict(tmp_path, "bridge", os.getpid())
        assert bad.degraded and bad.reason == "Kafka has confirmed nothing for 12 s"
        # An earlier run's file (another pid) says nothing about this process.
        assert not verdict(tmp_path, "bridge", os.getpid() + 1).degraded
    finally:
        beat.stop()
    problem[0] = None
    beat.beat()
    assert not verdict(tmp_path, "bridge", os.getpid()).degraded
    # A process whose heartbeat stopped (hung) is degraded once the file is stale.
    hung = verdict(tmp_path, "bridge", os.getpid(), now=time.time() + 60)
    assert hung.degraded and "no heartbeat" in hung.reason


def test_a_probe_that_raises_is_a_problem_and_errors_are_kept(tmp_path: Path) -> None:
    def broken() -> Report:
        raise RuntimeError("probe bug")

    note_error("alerts sos consumer", ConnectionError("broker gone"))
    body = Heartbeat(tmp_path, "alerts", [broken]).beat()
    assert body["problems"] == ["health probe failed: RuntimeError('probe bug')"]
    assert "broker gone" in body["errors"]["alerts sos consumer"]
    assert json.loads(health_path(tmp_path, "alerts").read_text())["pid"] == os.getpid()


def test_kafka_reachable_says_since_when_it_is_not(kafka: RunningService) -> None:
    up = KafkaReachable([f"127.0.0.1:{kafka.port}"], grace_s=0)()
    assert up.problem is None and up.facts["kafka_reachable"] is True
    nobody = KafkaReachable([f"127.0.0.1:{free_port()}"], grace_s=0.2)
    assert nobody().problem is None  # within the grace: a restart takes a moment
    time.sleep(0.3)
    down = nobody()
    assert down.problem is not None and "unreachable" in down.problem


def test_each_copy_of_a_program_beats_in_a_file_of_its_own(tmp_path: Path) -> None:
    from config import load_settings

    first = load_settings(None, {"stack.data_dir": str(tmp_path), "stack.instance": 1})
    second = load_settings(None, {"stack.data_dir": str(tmp_path), "stack.instance": 2})
    assert instance_name(first, "worker") == "worker"
    assert instance_name(second, "worker") == "worker-2"
    Heartbeat(tmp_path, instance_name(second, "worker"), [lambda: Report("stuck")]).beat()
    # The second copy's problem is seen under its own name, and not under the first's.
    assert verdict(tmp_path, "worker-2", os.getpid()).degraded
    assert not health_path(tmp_path, "worker").exists()
    Heartbeat(tmp_path, instance_name(first, "worker"), [lambda: Report(None)]).beat()
    assert not verdict(tmp_path, "worker", os.getpid()).degraded
    assert verdict(tmp_path, "worker-2", os.getpid()).degraded


def test_a_wedged_event_loop_is_degraded_and_a_running_one_is_not(
    tmp_path: Path, kafka: RunningService
) -> None:
    from config import load_settings

    settings = load_settings(None, {"stack.data_dir": str(tmp_path),
                                    "kafka.bootstrap_servers": [f"127.0.0.1:{kafka.port}"]})
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Heartbeat:  # as a service does, from its own loop
        return kafka_heartbeat(settings, "alerts")

    beat = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        tick = next(p for p in beat.probes if isinstance(p, LoopTick))
        tick.stall_s = 1.0  # LOOP_STALL_S is 10 s; shorter here, for a short test

        def judged() -> Verdict:
            beat.beat()
            return verdict(tmp_path, "alerts", os.getpid())

        time.sleep(0.2)
        running = judged()
        assert not running.degraded, running.reason  # the control: the loop runs
        assert running.body["facts"]["loop_running"] is True
        loop.call_soon_threadsafe(time.sleep, 3.0)  # a blocking call wedges the loop
        judged()
        time.sleep(1.5)
        wedged = judged()
        assert wedged.degraded and "event loop ran nothing" in wedged.reason
        time.sleep(2.0)  # the blocking call is over
        judged()
        assert not judged().degraded
    finally:
        beat.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_the_faust_worker_beats_from_its_own_loop(det_settings: Settings,
                                                  tmp_path: Path) -> None:
    worker = Worker(det_settings, tmp_path / "worker.log")
    try:
        worker.start()
        assert worker.proc is not None
        pid = worker.proc.pid

        def facts() -> dict[str, Any]:
            body = verdict(det_settings.data_dir, "worker", pid).body
            return dict(body.get("facts") or {})

        deadline = time.monotonic() + 60
        while not facts().get("loop_running") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert facts().get("loop_running") is True, worker.log.read_text()[-3000:]
        assert facts()["loop_tick_age_s"] < 5
    finally:
        worker.stop()
