"""Apache Kafka as the embedded broker: one KRaft node (broker and controller in one JVM).

The jars (``org.apache.kafka:kafka_2.13`` and its runtime dependencies) come from Maven
Central through Maven, once, into a cache folder shared by every data directory; the broker
runs on the machine's Java 17. Its logs and metadata live under the stack's data directory and
survive a restart, a Ctrl-C and a SIGKILL.

3.9 rather than 4.x: Kafka 4.0 dropped the old protocol versions (KIP-896) and this project's
clients (kafka-python, aiokafka under faust-streaming) are not all checked against that; 3.9
speaks every version they use, and is what docker-compose.yml runs in production.

Example::

    spec = apache_kafka_spec(Path("var/kafka"), 9092, 9093)   # fetches jars, formats once
    # run spec.argv; ready when spec.ready_probe() is true
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from functools import partial
from importlib import resources
from pathlib import Path

from anbu.stack.exceptions import StackError
from anbu.stack.services import ServiceSpec, free_port, require_program, tansu_spec

KAFKA_VERSION = "3.9.1"
"""The pinned broker version; the pom beside this module names the same one."""

READY_TIMEOUT_S = 180.0
"""How long a new broker may take to be ready: a JVM start on two busy cores (5 s when idle)."""

POM = "kafka-broker.pom.xml"
_COMPLETE = ".complete"


def default_lib_dir() -> Path:
    """Where the jars are cached: ``$XDG_CACHE_HOME/anbu/kafka-<version>/lib``."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "anbu" / f"kafka-{KAFKA_VERSION}" / "lib"


def jars_cached(lib_dir: Path | None = None) -> bool:
    """Whether the jars and the class archive are there already (no fetch at the next start)."""
    lib = lib_dir or default_lib_dir()
    archive = lib.parent / "classes.jsa"
    tried = archive.exists() or archive.with_name("classes.jsa.failed").exists()
    return (lib / _COMPLETE).exists() and tried


def ensure_jars(lib_dir: Path | None = None, *, mvn: str = "mvn") -> Path:
    """Return the folder of the broker's jars, fetching them with Maven the first time.

    Concurrent callers (test sessions, ``anbu up``) wait for one fetch; a half-finished fetch
    never counts, since the folder is complete only once renamed into place.

    Raises:
        MissingProgram: Maven is not installed.
        StackError: Maven failed (its output is in the message).
    """
    lib = lib_dir or default_lib_dir()
    if (lib / _COMPLETE).exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with (lib.parent / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (lib / _COMPLETE).exists():
            return lib
        maven = require_program(mvn, "maven")
        staging = lib.parent / f"lib.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        with resources.as_file(resources.files("anbu.stack") / POM) as pom:
            result = subprocess.run(
                [
                    maven,
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging}",
                ],
                capture_output=True,
                text=True,
                timeout=1800,
            )
        if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            raise StackError(
                f"fetching Kafka {KAFKA_VERSION} with Maven failed:\n"
                + (result.stdout + result.stderr)[-3000:]
            )
        (staging / _COMPLETE).write_text(KAFKA_VERSION + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
    return lib


def server_properties(
    directory: Path, port: int, controller_port: int, *, partitions: int = 4
) -> str:
    """The broker's config for one node on loopback.

    Args:
        directory: the broker's folder; its logs go to ``directory/data``.
        port: the client listener.
        controller_port: the KRaft controller listener (this node is the only voter).
        partitions: for topics created by first use (``kafka.topics.partitions``).
    """
    return f"""# written by anbu; rewritten at every start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={directory / "data"}
# One node: every internal topic has one replica, and fewer partitions than the defaults
# (50) so that the first consumer group or transactional producer does not wait for them.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
default.replication.factor=1
min.insync.replicas=1
# After a crash the restarted broker may register only once the dead one's session has
# expired (DUPLICATE_BROKER_REGISTRATION until then): 9 s by default, 3 s here. Its
# heartbeats go to its own controller in the same JVM, so a short session is safe.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
# A group's first member does not wait 3 s for others that will not come.
group.initial.rebalance.delay.ms=0
# Faust creates its changelog and repartition topics itself, but a producer may write to
# anbu's topics before `anbu init` made them: make them as init would.
auto.create.topics.enable=true
num.partitions={partitions}
# A week of events (the dead-letter topic keeps 30 days by its own config); segments small
# enough that retention and compaction of the registry act on a small machine.
log.retention.hours=168
log.segment.bytes=134217728
log.retention.check.interval.ms=300000
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
# Two cores: few threads.
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
auto.leader.rebalance.enable=false
"""


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def java_options(heap: str) -> list[str]:
    """JVM flags for a 2-core machine: a bounded heap, one GC thread pool, a quick start."""
    return [
        f"-Xmx{heap}",
        "-Xms64m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:ParallelGCThreads=2",
        "-XX:ConcGCThreads=1",
        "-XX:+ExitOnOutOfMemoryError",  # supervisord restarts it; half-dead helps nobody
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        # Say when the broker is up, so its log shows the start-up time.
        "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
    ]


def apache_kafka_spec(
    directory: Path,
    port: int,
    controller_port: int,
    *,
    java: str = "java",
    heap: str = "512m",
    lib_dir: Path | None = None,
    partitions: int = 4,
) -> ServiceSpec:
    """Write the broker's config under ``directory``, format its storage once, return the spec.

    Args:
        directory: the broker's folder (config and ``data/``).
        port: the client port on loopback.
        controller_port: the KRaft controller port on loopback.
        java: the Java 17+ program.
        heap: the JVM's maximum heap (``512m``).
        lib_dir: the jars; unset: fetched into :func:`default_lib_dir`.
        partitions: partitions of topics created by first use.

    Raises:
        MissingProgram: Java or Maven is missing.
        StackError: the jars could not be fetched or the storage not formatted.
    """
    directory = directory.resolve()
    (directory / "data").mkdir(parents=True, exist_ok=True)
    java_path = require_program(java, "openjdk-17-jre-headless")
    classpath = str(ensure_jars(lib_dir) / "*")
    config = directory / "server.properties"
    config.write_text(server_properties(directory, port, controller_port, partitions=partitions))
    archive = class_archive(Path(classpath).parent, java_path)
    cds = [f"-XX:SharedArchiveFile={archive}"] if archive else []
    if not (directory / "data" / "meta.properties").exists():
        _format(java_path, classpath, config, cds)
    argv = [java_path, *java_options(heap), *cds, "-cp", classpath, "kafka.Kafka", str(config)]
    probe = partial(kafka_answers, "127.0.0.1", port)
    return ServiceSpec("kafka", argv, port, ready_probe=probe)


def class_archive(lib: Path, java: str) -> Path | None:
    """The broker's shared class archive, made once beside the jars; None if it cannot be.

    Loading the broker's classes from it starts a broker ~40 % sooner (3.3 s instead of
    6-8 s here). It is made by starting a throwaway broker with ``-XX:ArchiveClassesAtExit``
    and stopping it once ready; a JVM that cannot use it later (another Java, other jars)
    says so in its log and starts the slow way.
    """
    shared = lib.parent / "classes.jsa"
    failed = lib.parent / "classes.jsa.failed"  # tried once: starts are slow, not slower
    if shared.exists() or failed.exists():
        return shared if shared.exists() else None
    with (lib.parent / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shared.exists() and not failed.exists():
            with tempfile.TemporaryDirectory(prefix="anbu-kafka-cds-") as tmp:
                _train(Path(tmp), lib, java, shared)
            if not shared.exists():
                failed.write_text("this Java could not write a class archive\n")
    return shared if shared.exists() else None


def _train(directory: Path, lib: Path, java: str, shared: Path) -> None:
    port = free_port()
    config = directory / "server.properties"
    config.write_text(server_properties(directory, port, free_port()))
    classpath = str(lib / "*")
    _format(java, classpath, config)
    dump = directory / "classes.jsa"
    argv = [java, *java_options("256m"), f"-XX:ArchiveClassesAtExit={dump}", "-cp", classpath]
    process = subprocess.Popen(
        [*argv, "kafka.Kafka", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not kafka_answers("127.0.0.1", port) and time.monotonic() < deadline:
            if process.poll() is not None:
                return
            time.sleep(0.2)
    finally:
        process.terminate()  # the archive is written as the JVM exits
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if dump.exists() and dump.stat().st_size > 0:
        staging = shared.with_name(f"classes.jsa.{os.getpid()}")
        shutil.copyfile(dump, staging)
        os.replace(staging, shared)


def _format(java: str, classpath: str, config: Path, jvm_flags: list[str] | None = None) -> None:
    """Give a new data folder its cluster id and metadata log (KRaft needs it once)."""
    result = subprocess.run(
        [
            java,
            "-Xmx256m",
            *(jvm_flags or []),
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            # one argument: an id may start with "-" and would read as an option
            f"--cluster-id={_cluster_id()}",
            "-c",
            str(config),
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def kafka_answers(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether a Kafka broker on ``host:port`` takes writes and serves consumer groups.

    Asks it for a group's coordinator (FindCoordinator v0). A KRaft broker binds its port
    early but answers only once it has joined the quorum and is unfenced; and it names a
    coordinator only once its offsets topic is created (on a new data folder) or loaded
    (after a restart). Until then every consumer group's first request fails and logs an
    error, so "ready" waits for that too.
    """
    correlation = 1
    client, group = b"anbu-probe", b"anbu-probe"
    body = (
        struct.pack(">hhih", 10, 0, correlation, len(client))
        + client
        + struct.pack(">h", len(group))
        + group
    )
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _read(sock, 10)
    except OSError:
        return False
    if header is None:
        return False
    _size, answered, error = struct.unpack(">iih", header)
    return answered == correlation and error == 0


def _read(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def private_broker(directory: Path, *, kind: str = "apache") -> ServiceSpec:
    """A broker of its own on free loopback ports, for tests and benchmarks.

    Args:
        directory: its folder (Apache Kafka's config and data).
        kind: ``"apache"``, or ``"tansu"`` for the memory-only fallback.
    """
    if kind == "tansu":
        return tansu_spec(free_port())
    return apache_kafka_spec(directory, free_port(), free_port())


if __name__ == "__main__":  # `make kafka`: fetch the jars ahead of the first start
    jars = ensure_jars()
    class_archive(jars, require_program("java", "openjdk-17-jre-headless"))
    print(jars)
