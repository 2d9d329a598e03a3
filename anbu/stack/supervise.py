"""Running the embedded stack under supervisord.

supervisord restarts a process that dies, keeps each one's log, stops whole process groups
so nothing is left behind, and answers status queries over a Unix socket: everything
``anbu up`` and ``anbu status`` need, from a well-kept library instead of our own.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from anbu.stack.exceptions import StackError
from anbu.stack.services import ServiceSpec
from anbu.timeutil import from_epoch


@dataclass(frozen=True, slots=True)
class Program:
    """One supervised program.

    Attributes:
        spec: what to run and where it listens.
        autostart: started with supervisord (infrastructure) or later by ``anbu up``.
        priority: lower starts first and stops last.
    """

    spec: ServiceSpec
    autostart: bool
    priority: int


def run_dir(data_dir: Path) -> Path:
    """Where supervisord keeps its socket, pid and config."""
    return data_dir / "run"


def socket_path(data_dir: Path) -> Path:
    """Supervisord's control socket."""
    return run_dir(data_dir) / "supervisor.sock"


def write_config(data_dir: Path, programs: list[Program], env: dict[str, str]) -> Path:
    """Write supervisord's config for ``programs``; return its path."""
    rundir, logdir = run_dir(data_dir), data_dir / "log"
    rundir.mkdir(parents=True, exist_ok=True)
    logdir.mkdir(parents=True, exist_ok=True)
    lines = [
        "; written by anbu up; rewritten at every start",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={logdir / 'supervisord.log'}",
        f"pidfile={rundir / 'supervisord.pid'}",
        f"childlogdir={logdir}",
        "loglevel=warn",
        "",
        "[unix_http_server]",
        f"file={socket_path(data_dir)}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
    ]
    for program in programs:
        spec = program.spec
        log = spec.log_path or logdir / f"{spec.name}.log"
        environment = {**env, **spec.env}
        env_text = ",".join(f'{k}="{_quote_env(v)}"' for k, v in sorted(environment.items()))
        lines += [
            f"[program:{spec.name}]",
            "command=" + " ".join(shlex.quote(a) for a in spec.argv),
            f"directory={Path.cwd()}",
            f"autostart={'true' if program.autostart else 'false'}",
            "autorestart=true",
            "startsecs=2",
            "startretries=100",
            "stopsignal=TERM",
            "stopwaitsecs=20",
            "stopasgroup=true",
            "killasgroup=true",
            f"priority={program.priority}",
            "redirect_stderr=true",
            f"stdout_logfile={log}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
        ]
        if env_text:
            lines.append(f"environment={env_text}")
        lines.append("")
    config = rundir / "supervisord.conf"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines))
    return config


def _quote_env(value: str) -> str:
    # supervisord expands %(...)s in its config, so a literal % must be doubled.
    return value.replace("%", "%%").replace('"', '\\"')


def _die_with_parent() -> None:
    """In the child: get SIGTERM when ``anbu up`` dies, even by SIGKILL (Linux only)."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_supervisord(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start supervisord in the foreground as a child, in its own session.

    Its own session keeps the terminal's Ctrl-C away from it, so ``anbu up`` decides the
    order of shutdown.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )


def rpc(data_dir: Path) -> Any:
    """Return an XML-RPC proxy to the running supervisord."""
    transport = SupervisorTransport(None, None, f"unix://{socket_path(data_dir)}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def wait_for_rpc(data_dir: Path, timeout_s: float = 15.0) -> Any:
    """Wait until supervisord answers on its socket; return the proxy.

    Raises:
        StackError: it did not answer in time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            proxy = rpc(data_dir)
            if proxy.supervisor.getState()["statename"] == "RUNNING":
                return proxy
        except (OSError, xmlrpc.client.Error):
            pass
        time.sleep(0.1)
    raise StackError(f"supervisord did not answer on {socket_path(data_dir)}")


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What ``anbu status`` shows for one process."""

    name: str
    state: str
    pid: int
    since: datetime | None
    description: str
    exit_status: int


def process_states(data_dir: Path) -> list[ProcessState]:
    """Ask the running supervisord about every program.

    Raises:
        StackError: no stack is running with this data directory.
    """
    if not socket_path(data_dir).exists():
        raise StackError(f"no anbu stack runs with data directory {data_dir}")
    try:
        infos = rpc(data_dir).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error) as exc:
        raise StackError(f"no anbu stack answers on {socket_path(data_dir)}: {exc}") from None
    return [
        ProcessState(
            name=info["name"],
            state=info["statename"],
            pid=info["pid"],
            since=from_epoch(info["start"]) if info["start"] else None,
            description=info["description"],
            exit_status=info["exitstatus"],
        )
        for info in infos
    ]
