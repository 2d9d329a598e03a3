"""Detector benchmarks: backtest speed, memory per household, deadline lag, worker vs raw.

Numbers measured in one run on this machine; nothing here asserts a target.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

from anbu.events import AlertEvent, DeviceEvent, EventBatch, EventKind, SourceFormat
from anbu.partitioning import partition_of
from anbu.timeutil import SEOUL
from config import Settings
from detectors.backtest import Row, make_engine, run_rows
from detectors.engine import Engine
from detectors.packing import pack, unpack
from detectors.params import DetectorParams
from detectors.runtime import Runtime, max_ahead_s
from testkit import processes
from testkit.services import running

START = datetime(2026, 3, 2, tzinfo=SEOUL)


def resident_rows(hh: str, days: int, offset_min: int = 0) -> list[Row]:
    """A resident's day, about 400 events.

    Moves every 10 min 07:00-22:00, a door twice a day, a kettle, a fridge, and gateway
    heartbeats every 5 minutes.
    """
    rows: list[Row] = []
    t0 = START.timestamp() + offset_min * 60
    for day in range(days):
        base = t0 + day * 86400
        for minute in range(0, 1440, 5):
            t = base + minute * 60
            rows.append((t, hh, "gw", "heartbeat", 1.0))
            if 420 <= minute <= 1320 and minute % 10 == 0:
                rows.append((t + 7, hh, "motion", "motion", 1.0))
            if minute % 60 == 0:
                rows.append((t + 30, hh, "fridge", "power", 90.0))
                rows.append((t + 1230, hh, "fridge", "power", 2.0))
        for minute in (600, 960):
            rows.append((base + minute * 60 + 13, hh, "door", "door", 1.0))
            rows.append((base + minute * 60 + 40, hh, "door", "door", 0.0))
        rows.append((base + 480 * 60 + 20, hh, "kettle", "power", 1800.0))
        rows.append((base + 485 * 60 + 20, hh, "kettle", "power", 0.0))
    return rows


def backtest_rate(households: int = 2000, days: int = 8) -> dict[str, Any]:
    """Events per second of the core over an in-memory, time-ordered stream."""
    rows: list[Row] = []
    for i in range(households):
        rows += resident_rows(f"hh-{i:06d}", days, offset_min=i % 5)
    rows.sort(key=lambda r: r[0])
    engine = make_engine()
    started = time.perf_counter()
    alerts = sum(1 for _ in run_rows(engine, rows))
    elapsed = time.perf_counter() - started
    return {"events": len(rows), "households": households, "seconds": round(elapsed, 2),
            "events_per_s": round(len(rows) / elapsed), "alerts": alerts}


def trained_household() -> Any:
    """One household after three weeks of a realistic routine (routine model full)."""
    engine = make_engine()
    list(run_rows(engine, resident_rows("hh-x", 21)))
    return engine.households["hh-x"]


def memory_per_household(counts: list[int], hot: int | None = None) -> list[dict[str, Any]]:
    """Bytes per household in an engine of ``counts`` households, each a trained one.

    The engine as it runs: at most ``hot`` households (default: the ``hot_households``
    setting's default) kept as objects, the others packed. Measured with tracemalloc: the
    packed bytes and household objects, the store's dict entries, one deadline-heap entry
    and one id string per household. The first count is also measured with every household
    an object (``hot_households = 0``, as before packing) for comparison.
    """
    trained = trained_household()
    params = DetectorParams() if hot is None else DetectorParams(hot_households=hot)
    out = []
    for k, n in enumerate(counts):
        for p in ([params, DetectorParams(hot_households=0)] if k == 0 else [params]):
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            engine = Engine(p)
            store = engine.households
            for i in range(n):
                hid = f"hh-{i:07d}"
                trained.due = 1e9 + i
                store.put_packed(hid, pack(trained))  # its own bytes, as after an eviction
                engine.queue.push(trained.due, hid)
            # fill the hot cache the way events do: unpack up to its limit
            for i in range(min(n, p.hot_households) if p.hot_households else n):
                store.get(f"hh-{i:07d}")
            used = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            out.append({"households": n, "hot_households": len(store.hot),
                        "bytes_per_household": round(used / n),
                        "total_mb": round(used / 1e6, 1), "packed_bytes": len(pack(trained))})
            del engine, store
            gc.collect()
    return out


def pack_cost(rounds: int = 20_000) -> dict[str, float]:
    """µs to pack and to unpack the trained household (a packed household's first event)."""
    trained = trained_household()
    raw = pack(trained)
    started = time.perf_counter()
    for _ in range(rounds):
        pack(trained)
    packed = time.perf_counter()
    for _ in range(rounds):
        unpack("hh-x", raw)
    done = time.perf_counter()
    return {"pack_us": round((packed - started) / rounds * 1e6, 2),
            "unpack_us": round((done - packed) / rounds * 1e6, 2)}


def deadline_lag(households: int = 2000, tick_s: float = 0.25,
                 spread_s: float = 5.0) -> dict[str, Any]:
    """Wall-clock lag from a deadline to its alert in the live worker's runtime.

    Households whose fixed-rule deadlines fall over the next ``spread_s`` seconds of wall
    time; the runtime is ticked every ``tick_s`` as the worker's timer does.
    """
    p = DetectorParams(default_inactivity_s=3600.0)
    rt = Runtime(p, partitions=4)
    now = time.time()
    for i in range(households):
        hh = f"hh-{i}"
        t = now - 3600 + 1.0 + spread_s * i / households
        part = partition_of(hh, 4)
        st = rt.state(part)
        st.active = True
        st.engine.observe(hh, "motion", "motion", 1.0, t)
        st.engine.advance(time.time())  # live: its clock is the wall clock (heartbeats)
        st.last_record_wall = time.time()
    lags: list[float] = []

    async def loop() -> None:
        end = time.time() + spread_s + 2 * tick_s + 1
        while time.time() < end and len(lags) < households:
            for alert in rt.tick():
                lags.append(time.time() - alert.raised_at.timestamp())
            await asyncio.sleep(tick_s)

    asyncio.run(loop())
    lags.sort()
    return {"alerts": len(lags), "tick_s": tick_s,
            "lag_p50_s": round(lags[len(lags) // 2], 3) if lags else None,
            "lag_max_s": round(lags[-1], 3) if lags else None}


@contextmanager
def kafka_broker(directory: Path) -> Iterator[int]:
    """A private Apache Kafka broker for one benchmark; yields its port."""
    from anbu.stack.apache_kafka import READY_TIMEOUT_S, private_broker

    spec = private_broker(directory / "kafka")
    assert spec.port is not None
    port = spec.port
    with running(spec, directory / "kafka.log", READY_TIMEOUT_S):
        yield port


def _records(events: int, batch: int) -> tuple[list[EventBatch], list[str], datetime]:
    """Batches of motion events for 1000 households, and the timing markers.

    One battery-low marker household per partition: its alert at the start and at the end
    of the stream times the worker. Event times are a minute apart per household and end
    a few minutes before now, as a backlog the worker catches up on (the worker refuses
    times far ahead of its wall clock).
    """
    out: list[EventBatch] = []
    per_hh = max(1, events // 1000)
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=per_hh + 5)
    for start in range(0, per_hh, batch):
        for i in range(1000):
            hh = f"hh-{i:04d}"
            evs = [DeviceEvent(household_id=hh, device_id="m", kind=EventKind.MOTION, value=1,
                               event_time=moment + timedelta(seconds=60 * (start + k)),
                               receive_time=moment, source_format=SourceFormat.SIMULATOR,
                               idempotency_key=f"{hh}{start + k}")
                   for k in range(min(batch, per_hh - start))]
            out.append(EventBatch(household_id=hh, events=evs))
    markers: dict[int, str] = {}
    i = 0
    while len(markers) < 4:
        hh = f"marker-{i}"
        markers.setdefault(partition_of(hh, 4), hh)
        i += 1
    return out, list(markers.values()), moment + timedelta(seconds=60 * per_hh + 60)


def _marker(hh: str, moment: datetime, seq: int) -> DeviceEvent:
    return DeviceEvent(household_id=hh, device_id=f"b{seq}", kind=EventKind.BATTERY, value=5,
                       event_time=moment, receive_time=moment,
                       source_format=SourceFormat.SIMULATOR, idempotency_key=f"{hh}-{seq}")


def produce_backlog(settings: Settings, events: int, batch: int) -> tuple[int, int, list[str]]:
    """Write the benchmark's backlog to ``anbu.events``.

    A start marker per partition, the motion batches (:func:`_records`), an end marker per
    partition.

    Returns:
        The events, the records written, and the marker households.
    """
    from kafka import KafkaProducer

    records, markers, end = _records(events, batch)
    moment = records[0].events[0].event_time - timedelta(hours=1)
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             acks="all", linger_ms=5, batch_size=256 * 1024)
    topic = settings.kafka.topics.events
    for hh in markers:
        producer.send(topic, key=hh.encode(), value=_marker(hh, moment, 0).to_json())
    for r in records:
        producer.send(topic, key=r.events[0].household_id.encode(), value=r.to_json())
    for hh in markers:
        producer.send(topic, key=hh.encode(), value=_marker(hh, end, 1).to_json())
    producer.flush()
    producer.close()
    return sum(len(r.events) for r in records), len(records) + 2 * len(markers), markers


def worker_vs_raw(events: int = 800_000, batch: int = 50, raw_runs: int = 3) -> dict[str, Any]:
    """The worker's events/s beside a raw aiokafka group consumer's, same topic, same run.

    The raw consumer reads the whole topic ``raw_runs`` times (each a new group); its median
    rate is reported, since one pass of a few hundred milliseconds swings with whatever else
    the machine does. One more pass ("bare") runs every record through the detector core
    as the worker does, without Faust. The worker's time comes from the Kafka timestamps of
    its marker alerts (set by its producer), not from when this process happens to see them.
    """
    from anbu.kafka_topics import ensure_topics
    from anbu.stack.services import free_port
    from config import load_settings

    with (tempfile.TemporaryDirectory(prefix="anbu-bench-det-") as tmp,
          kafka_broker(Path(tmp)) as port):
        settings = load_settings(None, {
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
            "stack.data_dir": str(Path(tmp) / "var"),
            "detectors.web_port": free_port(),
        })
        ensure_topics(settings)
        total_events, n_records, markers = produce_backlog(settings, events, batch)
        topic = settings.kafka.topics.events

        raw = sorted(asyncio.run(_raw_consume(settings, topic, n_records, f"bench-raw-{i}"))
                     for i in range(raw_runs))
        raw_s = raw[len(raw) // 2]
        core = Runtime(DetectorParams(), settings.kafka.topics.partitions,
                       max_ahead_s=max_ahead_s(settings))  # the worker's check, too
        bare_s = asyncio.run(_raw_consume(settings, topic, n_records, "bench-bare", core))
        worker_s = timed_workers(settings, Path(tmp), markers)
        return {
            "events": total_events, "records": n_records, "batch": batch,
            "raw_events_per_s": round(total_events / raw_s),
            "raw_events_per_s_runs": [round(total_events / s) for s in raw],
            "bare_events_per_s": round(total_events / bare_s),
            "bare_vs_raw": round(raw_s / bare_s, 3),
            "worker_events_per_s": round(total_events / worker_s) if worker_s else None,
            "worker_vs_raw": round(raw_s / worker_s, 3) if worker_s else None,
        }


async def _raw_consume(
    settings: Settings, topic: str, n_records: int, group: str, runtime: Runtime | None = None
) -> float:
    """Seconds for a plain aiokafka group consumer to read ``n_records`` from the first.

    With ``runtime``, each record is also read and run through the detector core as the
    worker does, without Faust: the bound on what any worker built on this core can reach.
    """
    from aiokafka import AIOKafkaConsumer

    from detectors.fastparse import fast_events
    from detectors.worker import FETCH_BYTES

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka.bootstrap_servers, group_id=group,
        auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
        rebalance_timeout_ms=5000, enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH_BYTES,  # as the worker fetches
    )
    await consumer.start()
    try:
        # the clock starts once the group has assigned the partitions, before the first
        # fetch: with 8 MiB fetches a small topic can arrive in a single batch
        give_up = time.monotonic() + 60
        while not consumer.assignment():
            if time.monotonic() > give_up:
                raise TimeoutError(f"consumer group {group}: no partitions assigned in 60 s")
            await asyncio.sleep(0.005)
        seen = 0
        first = time.perf_counter()
        while seen < n_records:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, msgs in batches.items():
                seen += len(msgs)
                if runtime is not None:
                    for m in msgs:
                        events = fast_events(m.value)
                        if events is not None:
                            runtime.apply_events(tp.partition, events, m.offset)
        return time.perf_counter() - first
    finally:
        await consumer.stop()


def start_worker(settings: Settings, data_dir: Path, web_port: int, log: Path,
                 overrides: dict[str, str] | None = None) -> Popen[bytes]:
    """Start ``anbu worker`` on the settings' broker, topics and group.

    It gets its own state directory and web port; its output goes to ``log``.
    ``overrides`` are further settings, dotted (``{"detectors.standby_replicas": "0"}``).
    """
    topics = settings.kafka.topics
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env["ANBU_KAFKA__BOOTSTRAP_SERVERS"] = ",".join(settings.kafka.bootstrap_servers)
    env["ANBU_DETECTORS__APP_ID"] = settings.detectors.app_id
    for name in ("events", "sos", "alerts", "deadletter", "registry"):
        env[f"ANBU_KAFKA__TOPICS__{name.upper()}"] = getattr(topics, name)
    env["ANBU_STACK__DATA_DIR"] = str(data_dir)
    env["ANBU_DETECTORS__WEB_PORT"] = str(web_port)
    for key, value in (overrides or {}).items():
        env["ANBU_" + key.upper().replace(".", "__")] = value
    return processes.spawn([sys.executable, "-m", "anbu", "worker"], log, env=env)


def timed_workers(settings: Settings, tmp: Path, markers: list[str], copies: int = 1
                  ) -> float | None:
    """Run ``copies`` ``anbu worker`` processes in one group and time them.

    Returns:
        The seconds from the first marker alert to the last, as the workers sent them (their
        producers' Kafka timestamps), or None when not every marker alert came.
    """
    from kafka import KafkaConsumer, TopicPartition

    from anbu.stack.services import free_port

    topics = settings.kafka.topics
    procs = [start_worker(settings, settings.data_dir / f"worker-{n}",
                          settings.detectors.web_port if n == 1 else free_port(),
                          tmp / f"worker-{n}.log")
             for n in range(1, copies + 1)]
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             enable_auto_commit=False)
    parts = [TopicPartition(topics.alerts, p) for p in range(topics.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    seen: dict[str, list[float]] = {}
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and sum(len(v) for v in seen.values()) < 2 * len(
                markers):
            for msgs in consumer.poll(timeout_ms=200).values():
                for m in msgs:
                    alert = AlertEvent.from_json(m.value)
                    if alert.household_id in markers and alert.action.value == "raise":
                        # the producer's timestamp: when the worker sent it, in ms
                        seen.setdefault(alert.household_id, []).append(m.timestamp / 1000)
        times = [t for v in seen.values() for t in v]
        if len(times) < 2 * len(markers):
            return None
        firsts = [v[0] for v in seen.values()]
        return max(times) - min(firsts)
    finally:
        consumer.close()
        processes.stop(*procs, timeout_s=20)
