"""Heartbeat files: each anbu process says whether it is making progress, not only running.

supervisord knows whether a process runs; it cannot know that a bridge whose Kafka producer
broke acknowledges nothing. Each process therefore writes ``<data dir>/health/<name>.json``
every couple of seconds from its probes (last Kafka confirmation, reachability, last
error), and ``anbu status`` shows a running process whose probes report a problem, or whose
file has gone stale, as DEGRADED with the reason.

Example::

    beat = Heartbeat(settings.data_dir, "bridge", [lambda: sink.health(15)])
    beat.start()        # a daemon thread; beat.stop() writes one last time

The beats come from a thread of their own, which shows that the process is alive, not that
its event loop moves: :func:`kafka_heartbeat` therefore adds a :class:`LoopTick`, stamped by
the service's own asyncio loop, so a loop wedged in a blocking call turns DEGRADED.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INTERVAL_S = 2.0
"""How often a process writes its heartbeat."""

STALE_AFTER_S = 15.0
"""A heartbeat older than this means the process is hung (its writer thread stopped)."""

KAFKA_GRACE_S = 10.0
"""Kafka unreachable for this long makes a process degraded (a restart takes a few s)."""

LOOP_STALL_S = 10.0
"""An event loop that has run no callback for this long is wedged (a blocking call in it)."""

_errors: dict[str, tuple[float, str]] = {}
_errors_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Report:
    """What one probe found.

    Attributes:
        problem: why the process is not making progress; ``None`` when it is.
        facts: numbers and times shown with the status (JSON-serialisable).
    """

    problem: str | None
    facts: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[], Report]


def note_error(what: str, exc: BaseException) -> None:
    """Remember the last error of ``what`` (a loop, a client) for the next heartbeat."""
    with _errors_lock:
        _errors[what] = (time.time(), repr(exc)[:300])


def recent_errors(within_s: float = 300.0) -> dict[str, str]:
    """The errors noted in the last ``within_s`` seconds, by what failed."""
    now = time.time()
    with _errors_lock:
        return {
            what: f"{time.strftime('%H:%M:%S', time.gmtime(at))}Z {text}"
            for what, (at, text) in _errors.items()
            if now - at <= within_s
        }


def health_path(data_dir: Path, component: str) -> Path:
    """Where ``component`` writes its heartbeat."""
    return data_dir / "health" / f"{component}.json"


class KafkaReachable:
    """Probe: whether any bootstrap server accepts a TCP connection.

    Consumers (aiokafka, Faust) retry quietly while Kafka is away and raise nothing, so the
    process would look healthy; this says since when it cannot reach the broker.
    """

    def __init__(self, bootstrap_servers: Sequence[str], grace_s: float = KAFKA_GRACE_S) -> None:
        self.servers = list(bootstrap_servers)
        self.grace_s = grace_s
        self._down_since: float | None = None

    def __call__(self) -> Report:
        """Probe once."""
        reachable = any(_accepts(server) for server in self.servers)
        now = time.monotonic()
        if reachable:
            self._down_since = None
            return Report(None, {"kafka_reachable": True})
        if self._down_since is None:
            self._down_since = now
        down = now - self._down_since
        facts = {"kafka_reachable": False, "kafka_down_s": round(down, 1)}
        if down < self.grace_s:
            return Report(None, facts)
        return Report(f"Kafka ({', '.join(self.servers)}) unreachable for {down:.0f} s", facts)


class LoopTick:
    """Probe: whether the service's asyncio event loop still runs its callbacks.

    Each probe (from the heartbeat's thread) asks the loop to stamp the time, as its next
    callback; a loop whose last stamp is older than ``stall_s`` is wedged: a blocking call,
    or a busy loop, holds it, and nothing else in the service moves either. A loop that is
    not running (not started yet, or stopped) is not judged.

    Args:
        loop: the service's event loop.
        stall_s: how old the last stamp may be.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stall_s: float = LOOP_STALL_S) -> None:
        self.loop = loop
        self.stall_s = stall_s
        self._stamped: float | None = None  # monotonic; written by the loop
        self._asked: float | None = None  # the first stamp asked of the running loop

    def _stamp(self) -> None:
        self._stamped = time.monotonic()

    def __call__(self) -> Report:
        """Probe once."""
        now = time.monotonic()
        try:
            if not self.loop.is_running():
                raise RuntimeError("not running")
            self.loop.call_soon_threadsafe(self._stamp)
        except RuntimeError:  # not started yet, or stopped (and closed) meanwhile
            self._stamped = self._asked = None
            return Report(None, {"loop_running": False})
        if self._asked is None:
            self._asked = now
        since = self._stamped if self._stamped is not None else self._asked
        age = now - since
        facts = {"loop_running": True, "loop_tick_age_s": round(age, 1)}
        if age > self.stall_s:
            return Report(f"event loop ran nothing for {age:.0f} s (wedged)", facts)
        return Report(None, facts)


def service_loop() -> asyncio.AbstractEventLoop | None:
    """The calling service's event loop: the running one, or the one its thread will run.

    A Faust worker builds its heartbeat before it runs the loop it was given (the thread's
    current loop); None when the thread has none.
    """
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return None


def _accepts(server: str) -> bool:
    host, _, port = server.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


class Heartbeat:
    """Writes ``component``'s heartbeat file every ``interval_s`` from ``probes``.

    Args:
        data_dir: the stack's data directory.
        component: the program name ``anbu status`` knows (``bridge``, ``alerts``...).
        probes: each says whether one part makes progress; a probe that raises is reported
            as a problem.
        interval_s: seconds between writes.
    """

    def __init__(
        self,
        data_dir: Path,
        component: str,
        probes: Sequence[Probe],
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.path = health_path(data_dir, component)
        self.component = component
        self.probes = list(probes)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"health-{component}", daemon=True)

    def start(self) -> Heartbeat:
        """Write now, then every ``interval_s`` in a daemon thread."""
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop writing (the file stays, with its last time)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def beat(self) -> dict[str, Any]:
        """Probe and write once; return what was written."""
        problems: list[str] = []
        facts: dict[str, Any] = {}
        for probe in self.probes:
            try:
                report = probe()
            except Exception as exc:  # noqa: BLE001 - a broken probe is itself a problem
                problems.append(f"health probe failed: {exc!r}")
                continue
            if report.problem:
                problems.append(report.problem)
            facts.update(report.facts)
        body = {
            "component": self.component,
            "pid": os.getpid(),
            "updated": time.time(),
            "interval_s": self.interval_s,
            "problems": problems,
            "facts": facts,
            "errors": recent_errors(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(body, default=str))
        os.replace(temporary, self.path)
        return body

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - keep beating; a full disk may clear
                log.exception("heartbeat of %s not written", self.component)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a heartbeat file says about a running process.

    Attributes:
        degraded: the process runs but does not make progress.
        reason: why (empty when not degraded).
        body: the file's content (empty when there is none for this process).
    """

    degraded: bool
    reason: str
    body: dict[str, Any]


def verdict(data_dir: Path, component: str, pid: int, now: float | None = None) -> Verdict:
    """Judge ``component`` (running as ``pid``) by its heartbeat file.

    A file of another pid is an earlier run's: no verdict until the new process writes.
    """
    now = time.time() if now is None else now
    try:
        body = json.loads(health_path(data_dir, component).read_text())
    except (OSError, ValueError):
        return Verdict(False, "", {})
    if body.get("pid") != pid:
        return Verdict(False, "", {})
    age = now - float(body.get("updated", 0))
    if age > max(STALE_AFTER_S, 3 * float(body.get("interval_s", INTERVAL_S))):
        return Verdict(True, f"no heartbeat for {age:.0f} s (hung?)", body)
    problems = body.get("problems") or []
    if problems:
        return Verdict(True, "; ".join(str(p) for p in problems), body)
    return Verdict(False, "", body)


def remove(data_dir: Path, component: str) -> None:
    """Delete ``component``'s heartbeat file (a clean stop)."""
    with contextlib.suppress(FileNotFoundError):
        health_path(data_dir, component).unlink()


def instance_name(settings: Any, component: str) -> str:
    """The program name ``anbu status`` shows for this copy: ``worker``, ``worker-2``...

    Copies started by ``anbu up`` (``stack.workers`` and the like) each need a heartbeat file
    of their own; with one shared name, a hung copy hid behind its sibling's fresh beats.
    """
    instance = int(getattr(getattr(settings, "stack", None), "instance", 1) or 1)
    return component if instance == 1 else f"{component}-{instance}"


def kafka_heartbeat(settings: Any, component: str, *probes: Probe) -> Heartbeat:
    """Start this copy of ``component``'s heartbeat with a Kafka probe and ``probes``.

    Called from the service's event loop (or, for the Faust worker, from the thread that
    will run it): a :class:`LoopTick` of that loop is added.
    """
    reachable = KafkaReachable(settings.kafka.bootstrap_servers)
    name = instance_name(settings, component)
    loop = service_loop()
    ticks = [LoopTick(loop)] if loop is not None else []
    return Heartbeat(settings.data_dir, name, [reachable, *ticks, *probes]).start()
