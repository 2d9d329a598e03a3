"""The whole pipeline on this machine: MQTT -> bridge -> Kafka -> detector worker.

An isolated embedded stack is started on free ports (Mosquitto, Kafka and InfluxDB from the
same specs ``anbu up`` uses, and ``python -m anbu bridge/worker/alerts`` with ``ANBU_*``
environment), so a running stack or other benchmarks are not disturbed. In one run it
measures:

* the raw MQTT limit: a plain paho subscriber draining the same simulated messages on the
  same Mosquitto, before the bridge starts;
* the whole pipeline's sustained rate: simulated households' native MQTT messages published
  as fast as the broker takes them; device events per second through the bridge (records
  acknowledged in ``anbu.events``) and through the detector worker (its committed offsets),
  taken over the middle of the run so start-up and the last commit do not count;
* the raw Kafka limit: a plain aiokafka consumer reading the same ``anbu.events`` records.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from anbu.stack.services import port_open
from bench.device_load import (
    bench_households,
    device_publisher,
    events_per_message,
    native_messages,
    offer,
    raw_mqtt_rate,
)
from bench.kafka_progress import OffsetWatcher, events_per_record, raw_kafka_rate, window_rate
from testkit.polling import wait_for
from testkit.publishing import publish_registry
from testkit.stack import PrivateStack, private_stack

log = logging.getLogger(__name__)

def wait_worker_ready(stack: PrivateStack, timeout_s: float = 120) -> float:
    """Wait until the worker has joined its group (its web port answers); return seconds."""
    began = time.time()

    def answering() -> bool:
        stack.check_apps()
        return port_open("127.0.0.1", stack.settings.detectors.web_port)

    wait_for(answering, timeout_s, step_s=0.2, what="the detector worker to start")
    return time.time() - began


def run(
    households: int = 500,
    messages: int = 200_000,
    duration_s: float = 60.0,
    warmup_s: float = 10.0,
    max_s: float = 180.0,
    progress: Any = None,
) -> dict[str, Any]:
    """Measure the raw limits and the whole pipeline's sustained rate; return the figures.

    The publisher offers simulated messages as fast as Mosquitto takes them; the rates are
    the slopes of the bridge's produced offsets and the worker's committed offsets between
    ``warmup_s`` and ``duration_s`` after publishing began (or until it all went through).

    Args:
        households: simulated households sending traffic (registered on ``anbu.registry``).
        messages: native MQTT messages offered (more than the window can take).
        duration_s: length of the measuring run, from the worker's first commit.
        warmup_s: earliest start of the window after publishing began.
        max_s: the longest the run may take.
        progress: called with a line of text as the run goes.
    """
    say = progress or (lambda _text: None)
    out: dict[str, Any] = {"households": households, "offered_messages": messages}
    say(f"simulating {households} households' traffic ...")
    simulation = bench_households(households)
    payloads = native_messages(simulation, messages)
    with private_stack() as stack:
        settings = stack.settings
        say("raw limit: plain paho subscriber on the same Mosquitto ...")
        out["raw_mqtt"] = raw_mqtt_rate(settings, payloads[: min(len(payloads), 50_000)])
        publish_registry(settings, simulation.registry_records())
        for name in ("bridge", "worker"):
            stack.start_app(name)
        say("starting bridge and worker ...")
        out["worker_start_s"] = round(wait_worker_ready(stack), 1)
        watcher = OffsetWatcher(settings, settings.detectors.app_id)
        time.sleep(3)  # the bridge reads the registry topic before it maps topics
        client = device_publisher(settings, "bench-pipeline-pub")
        say(f"offering {len(payloads):,} messages for {duration_s:.0f} s ...")
        stop = threading.Event()
        sent: list[int] = []
        publisher = threading.Thread(
            target=offer, args=(client, payloads, stop, sent), daemon=True
        )
        began = time.time()
        publisher.start()
        produced = committed = 0
        first_commit: float | None = None
        # The window opens once the worker commits (it first loads the registry topic) and
        # runs ``duration_s`` from then; a worker that never commits ends it at ``max_s``.
        while time.time() - began < max_s:
            stack.check_apps()
            produced, committed = watcher.sample()
            now = time.time()
            if committed and first_commit is None:
                first_commit = now
            if first_commit is not None and now - first_commit >= duration_s:
                break
            if not publisher.is_alive() and produced and committed >= produced:
                break  # everything went through before the window ended
            time.sleep(0.25)
        ended = time.time()
        stop.set()
        publisher.join(timeout=30)
        client.loop_stop()
        client.disconnect()
        ratio = events_per_record(settings)
        samples = watcher.samples
        watcher.close()
        start = max(began + warmup_s, (first_commit or began) + 2.0)
        bridge_rps = window_rate([(t, p) for t, p, _ in samples], start, ended)
        worker_rps = window_rate([(t, c) for t, _, c in samples], start, ended)
        if first_commit is None:
            worker_rps = None
            out["pipeline_reason"] = f"the worker committed no offsets in {max_s:.0f} s"
        out.update(
            published_messages=sent[0] if sent else None,
            records=produced,
            committed=committed,
            backlog_records=max(0, produced - committed),
            events_per_record=round(ratio, 2),
            window_s=round(ended - start, 1),
            bridge_events_per_s=None if bridge_rps is None else round(bridge_rps * ratio),
            worker_events_per_s=None if worker_rps is None else round(worker_rps * ratio),
            # Through every stage: no faster than the slower of the two. A worker that drains
            # a backlog in the window shows more than it is given in steady state.
            pipeline_events_per_s=(
                None
                if worker_rps is None or bridge_rps is None
                else round(min(worker_rps, bridge_rps) * ratio)
            ),
        )
        say("raw limit: plain aiokafka consumer on the same anbu.events records ...")
        raw = asyncio.run(raw_kafka_rate(settings, settings.kafka.topics.events))
        raw["events_per_s"] = round(raw["records_per_s"] * ratio)
        out["raw_kafka"] = raw
    # The raw MQTT limit in device events/s: messages/s times the events the bridge's own
    # adapters read from each of these messages.
    per_message = events_per_message(simulation, payloads[:5000])
    out["events_per_message"] = round(per_message, 2)
    out["raw_mqtt_events_per_s"] = round(out["raw_mqtt"]["msgs_per_s"] * per_message)
    if out["pipeline_events_per_s"]:
        out["pipeline_ratio"] = round(
            out["pipeline_events_per_s"] / max(out["raw_mqtt_events_per_s"], 1), 3
        )
    if out["bridge_events_per_s"]:
        out["bridge_ratio"] = round(
            out["bridge_events_per_s"] / max(out["raw_mqtt_events_per_s"], 1), 3
        )
    return out
