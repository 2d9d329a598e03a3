"""`anbu up` brings the whole embedded stack up, restarts what dies, keeps Kafka's data across
a broker crash and across Ctrl-C, and Ctrl-C leaves nothing.

One stack runs the whole life (starting one costs tens of seconds on this machine), with two
detector workers (``stack.workers = 2``) so that it also shows them sharing the partitions:

1. two workers, each with its own RocksDB directory, between them own every partition;
2. Mosquitto SIGKILLed is restarted by supervisord and reported;
3. the broker SIGKILLed is restarted by supervisord on the same data: records, the compacted
   registry topic and its config, a group's offset are all there (``tests/kit/durable.py``);
4. Ctrl-C exits 0 and leaves no process behind; ``anbu status`` then says nothing runs;
5. ``anbu up`` again on the same data dir: a new broker, and everything still there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from anbu.kafka_topics import ensure_topics
from config import load_settings
from tests.kit.durable import check_everything_there, commit_durable, produce_durable
from tests.kit.up import (
    ctrl_c,
    start_up,
    status,
    supervised_running,
    up_env,
    wait_all_running,
    wait_kafka,
    wait_restarted,
)

LOADED = re.compile(r"partition (\d+): restored")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_workers_share(data_dir: Path, log: Path) -> list[set[int]]:
    """Wait until both workers run and between them have loaded every partition."""
    logs = [data_dir / "log" / "worker.log", data_dir / "log" / "worker-2.log"]
    deadline = time.monotonic() + 240
    owned: list[set[int]] = [set(), set()]
    while time.monotonic() < deadline:
        owned = [set(map(int, LOADED.findall(p.read_text()))) if p.exists() else set()
                 for p in logs]
        # supervisord asked in-process: `anbu status` confirms it all in step 2
        running = all(supervised_running(data_dir, n) for n in ("worker", "worker-2"))
        if running and all(owned) and owned[0] | owned[1] == {0, 1, 2, 3}:
            break
        time.sleep(1)
    assert all(owned), (owned, log.read_text()[-2000:])
    return owned


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_up_shares_partitions_restarts_what_dies_keeps_kafka_data_and_ctrl_c_leaves_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    env = up_env(data_dir)
    env["ANBU_STACK__WORKERS"] = "2"
    settings = load_settings(
        None,
        {
            "stack.data_dir": str(data_dir),
            "kafka.bootstrap_servers": env["ANBU_KAFKA__BOOTSTRAP_SERVERS"],
        },
    )
    log = tmp_path / "up.log"
    up = start_up(env, tmp_path, log)
    try:
        wait_all_running(env, 240)
        # 1. Two workers share the partitions, each with its own RocksDB directory.
        owned = _wait_workers_share(data_dir, log)
        assert owned[0] | owned[1] == {0, 1, 2, 3}
        assert (data_dir / "detectors").is_dir() and (data_dir / "detectors-2").is_dir()

        assert ensure_topics(settings) == []  # `anbu up` made them
        produce_durable(settings)
        commit_durable(settings)
        check_everything_there(settings)  # the control: all there before any crash

        # 2. A component that dies is restarted and reported.
        rows = wait_all_running(env, 60).rows
        old_pid = rows["mosquitto"][1]
        os.kill(old_pid, signal.SIGKILL)
        wait_restarted(env, "mosquitto", old_pid, 60)

        # 3. A crash of the broker: supervisord starts it again, on the same data.
        os.kill(rows["kafka"][1], signal.SIGKILL)
        kafka_pid = wait_restarted(env, "kafka", rows["kafka"][1])
        wait_kafka(settings)
        check_everything_there(settings)

        # 4. Ctrl-C stops everything.
        rows = wait_all_running(env, 120).rows
        pids = [pid for _, pid in rows.values()]
        supervisord_pid = int((data_dir / "run" / "supervisord.pid").read_text())
    finally:
        code = ctrl_c(up)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "mosquitto: RUNNING -> " in output, output  # the crash was reported
    assert "http://" in output  # the URLs to open were printed
    time.sleep(0.5)
    left = [pid for pid in [*pids, supervisord_pid] if _alive(pid)]
    assert left == [], f"processes left behind: {left}"
    assert kafka_pid in pids  # the restarted broker was among them: stopped, not left running
    stray = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert stray.stdout.strip() == "", f"stray processes: {stray.stdout}"
    assert status(env).code == 3  # `anbu status` says nothing runs

    # 5. Up again on the same data dir: a new broker, and everything is still there.
    up = start_up(env, tmp_path, log)
    try:
        rows = wait_all_running(env, 240).rows
        assert rows["kafka"][1] != kafka_pid
        wait_kafka(settings)
        check_everything_there(settings)
    finally:
        code = ctrl_c(up)
    assert code == 0, log.read_text()[-3000:]
    assert (data_dir / "kafka" / "data" / "meta.properties").exists()
