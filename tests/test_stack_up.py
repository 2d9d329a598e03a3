"""`anbu up` brings the whole embedded stack up, restarts what dies, and Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anbu.stack.services import free_port

INFRA = {"mosquitto", "kafka", "influxdb"}


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env.update(
        {
            "ANBU_STACK__DATA_DIR": str(data_dir),
            "ANBU_MQTT__PORT": str(free_port()),
            "ANBU_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "ANBU_INFLUX__URL": f"http://127.0.0.1:{free_port()}",
            "ANBU_STACK__INFLUX_RPC_PORT": str(free_port()),
            "ANBU_STACK__KAFKA_CONTROLLER_PORT": str(free_port()),
            "ANBU_WEB__PORT": str(free_port()),
            "ANBU_INGEST__METRICS_PORT": str(free_port()),
            "ANBU_DETECTORS__WEB_PORT": str(free_port()),
            "ANBU_ALERTS__METRICS_PORT": str(free_port()),
        }
    )
    return env


def _status(env: dict[str, str]) -> tuple[int, dict[str, tuple[str, int]]]:
    result = subprocess.run(
        [sys.executable, "-m", "anbu", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows: dict[str, tuple[str, int]] = {}
    for line in result.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3:
            rows[parts[0]] = (parts[1], int(parts[2]) if parts[2].isdigit() else 0)
    return result.returncode, rows


def _wait_all_running(env: dict[str, str], timeout_s: float) -> dict[str, tuple[str, int]]:
    deadline = time.monotonic() + timeout_s
    rows: dict[str, tuple[str, int]] = {}
    while time.monotonic() < deadline:
        code, rows = _status(env)
        if code == 0 and INFRA <= set(rows) and all(s == "RUNNING" for s, _ in rows.values()):
            return rows
        time.sleep(1)
    pytest.fail(f"stack not all RUNNING after {timeout_s} s: {rows}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_up_status_restart_and_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = _env(data_dir)
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen(
        [sys.executable, "-m", "anbu", "up"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        rows = _wait_all_running(env, 120)
        # A component that dies is restarted and reported.
        old_pid = rows["mosquitto"][1]
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, now = _status(env)
            if now.get("mosquitto", ("", 0))[0] == "RUNNING" and now["mosquitto"][1] != old_pid:
                break
            time.sleep(0.5)
        else:
            pytest.fail("mosquitto was not restarted")
        rows = _wait_all_running(env, 60)
        pids = [pid for _, pid in rows.values()]
        supervisord_pid = int((data_dir / "run" / "supervisord.pid").read_text())
        # Ctrl-C.
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=90) == 0
    finally:
        if up.poll() is None:
            up.kill()
        log.close()
    output = (tmp_path / "up.log").read_text()
    assert "mosquitto: RUNNING -> " in output, output  # the crash was reported
    assert "http://" in output  # the URLs to open were printed
    time.sleep(0.5)
    left = [pid for pid in [*pids, supervisord_pid] if _alive(pid)]
    assert left == [], f"processes left behind: {left}"
    stray = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert stray.stdout.strip() == "", f"stray processes: {stray.stdout}"
    code, _ = _status(env)
    assert code == 3  # `anbu status` says nothing runs
