"""`anbu up` brings the whole embedded stack up, restarts what dies, and Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testkit import processes
from tests.kit.up import ctrl_c, start_up, status, up_env, wait_all_running, wait_restarted


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_up_status_restart_and_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = up_env(data_dir)
    up = start_up(env, tmp_path, tmp_path / "up.log")
    try:
        rows = wait_all_running(env, 120).rows
        # A component that dies is restarted and reported.
        old_pid = rows["mosquitto"][1]
        os.kill(old_pid, signal.SIGKILL)
        wait_restarted(env, "mosquitto", old_pid, 60)
        rows = wait_all_running(env, 60).rows
        pids = [pid for _, pid in rows.values()]
        supervisord_pid = int((data_dir / "run" / "supervisord.pid").read_text())
        assert ctrl_c(up, 90) == 0
    finally:
        processes.kill(up)
    output = (tmp_path / "up.log").read_text()
    assert "mosquitto: RUNNING -> " in output, output  # the crash was reported
    assert "http://" in output  # the URLs to open were printed
    time.sleep(0.5)
    left = [pid for pid in [*pids, supervisord_pid] if _alive(pid)]
    assert left == [], f"processes left behind: {left}"
    stray = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert stray.stdout.strip() == "", f"stray processes: {stray.stdout}"
    assert status(env).code == 3  # `anbu status` says nothing runs
