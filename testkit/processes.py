"""Starting and stopping the processes tests and benchmarks run (services, ``anbu`` commands).

One way to stop a process: a signal (SIGTERM unless told), a wait, then SIGKILL. A process
started in a session of its own (:func:`spawn` does that) gets the signals as a group, so
what it started goes with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, its output appended to ``log_path``.

    Args:
        argv: the command.
        log_path: where stdout and stderr go (its folder is created).
        env: its whole environment (default: this process's).
        cwd: the working directory.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ if env is None else env),
            cwd=cwd,
        )


def run_anbu(
    *args: str,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``anbu <args>`` (this interpreter's) to its end; its output captured as text.

    Args:
        args: the command line after ``anbu``.
        data_dir: given as ``--data-dir`` before ``args`` when set.
        env: its whole environment (default: this process's).
        cwd: the working directory.
        timeout_s: how long it may take (``subprocess.TimeoutExpired`` beyond).
    """
    flags = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return subprocess.run(
        [sys.executable, "-m", "anbu", *flags, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=None if env is None else dict(env),
        cwd=cwd,
    )


def _signal(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass  # it ended meanwhile


def stop(
    *running: subprocess.Popen[bytes], timeout_s: float = 15.0, sig: int = signal.SIGTERM
) -> None:
    """Stop processes with ``sig`` (all at once), SIGKILL what is not gone in ``timeout_s``.

    Returns when all have ended; their ``returncode`` says how (negative: the signal).
    """
    alive = [process for process in running if process.poll() is None]
    for process in alive:
        _signal(process, sig)
    deadline = time.monotonic() + timeout_s
    for process in alive:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait()


def kill(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL ``process``, as a crash would, and wait; return its exit status."""
    if process.poll() is None:
        _signal(process, signal.SIGKILL)
        process.wait()
    return process.returncode
