"""SOS latency during a junk flood: one client floods the broker while SOS are pressed.

The SOS lane (:mod:`ingest.sos_lane`) must keep an SOS from waiting behind the junk; see
docs/benchmarks.md for the figures.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import urllib.request
from typing import Any

from bench import sos_stack as kit  # what the SOS benchmarks share
from bench.device_load import bench_households, device_publisher, publish_all
from config import Settings
from simulator.world import Simulation


def flood_messages(simulation: Simulation, count: int, first: int) -> list[tuple[str, bytes]]:
    """``count`` junk messages: unregistered topics and bad payloads on registered ones.

    Five kinds in turn, most on distinct topics (as a misconfigured fleet or an attacker
    would send): valid Zigbee2MQTT state on unregistered topics, an SOS-looking anbu message
    from an unregistered gateway, truncated JSON on registered Zigbee2MQTT sensors and on
    registered gateways (an SOS-looking one there), and bytes that are not UTF-8 on
    unregistered Tasmota topics. The registered ones belong to households ``first`` on,
    which are never the ones whose SOS is measured.
    """
    households = simulation.households[first:]
    sensors = [
        device.mqtt_topic
        for household in households
        for device in household.devices
        if device.mqtt_topic.startswith("zigbee2mqtt/")
    ]
    gateways = [f"anbu/{household.gateway_id}/heartbeat" for household in households]
    if not sensors or not gateways:
        raise ValueError("the flood needs households with Zigbee2MQTT sensors and gateways")
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            out.append((f"zigbee2mqtt/junk-{i}", b'{"occupancy":true,"battery":97}'))
        elif kind == 1:
            out.append((f"anbu/gw-junk-{i}/button", b'{"type":"sos","seq":%d}' % i))
        elif kind == 2:
            out.append((sensors[i % len(sensors)], b'{"occupancy": tru'))
        elif kind == 3:
            out.append((gateways[i % len(gateways)], b'{"type": "sos", "seq": %d' % i))
        else:
            out.append((f"tele/junk{i}/SENSOR", b"\xff\xfe" + i.to_bytes(4, "big")))
    return out


def _flood(settings: Settings, messages: list[tuple[str, bytes]], started: Any, done: Any) -> None:
    """Publish ``messages`` as fast as the broker takes them (in a process of its own)."""
    publisher = device_publisher(settings, "bench-flood")
    try:
        started.set()
        publish_all(publisher, messages)
    finally:
        done.set()
        publisher.loop_stop()
        publisher.disconnect()


def _acked(settings: Settings) -> float:
    """MQTT messages the bridge acknowledged (after Kafka confirmed them), from /metrics."""
    url = f"http://127.0.0.1:{settings.ingest.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("anbu_ingest_acked_total "):
            return float(line.split()[1])
    return 0.0


def _dead_letter_topics(settings: Settings) -> list[str]:
    """The MQTT topic of every record on the dead-letter topic."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.kafka.topics.deadletter
    consumer = KafkaConsumer(
        bootstrap_servers=list(settings.kafka.bootstrap_servers),
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    topics: list[str] = []
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for message in consumer:
            topics.append(str(json.loads(message.value).get("topic")))
    finally:
        consumer.close()
    return topics


def run_flood(
    junk: int = 50_000,
    sos: int = 100,
    interval_s: float = 0.05,
    wait_s: float = 60.0,
    drain_s: float = 180.0,
    progress: Any = None,
) -> dict[str, Any]:
    """SOS latency while one client floods the broker with ``junk`` junk messages.

    One client publishes the junk (:func:`flood_messages`) as fast as the broker takes it
    (QoS 1); meanwhile another presses a different household's SOS button every
    ``interval_s`` (at most ``sos``), from the first acknowledged junk message until the last.
    Then it waits up to ``drain_s`` for the bridge to acknowledge every junk message (after
    Kafka confirmed its dead letter), counts the dead letters, and checks that no SOS is one.

    Args:
        junk: junk messages.
        sos: most SOS pressed during the flood (one household each).
        interval_s: time between two SOS presses.
        wait_s: how long after the flood to wait for the SOS webhooks.
        drain_s: how long to wait for the bridge to get through the junk.
        progress: called with a line of text as the run goes.
    """
    say = progress or (lambda _text: None)
    flood_households = 20
    simulation = bench_households(sos + flood_households + kit.WARMUP_SOS, seed=13)
    households = simulation.households
    messages = flood_messages(simulation, junk, sos)
    with kit.sos_stack(simulation, [], say) as (stack, receiver, press):
        settings = stack.settings
        log_path = stack.directory / "log" / "bridge.log"
        log_lines_before = len(log_path.read_bytes().splitlines())
        dead_before = len(_dead_letter_topics(settings))
        # The flooding client is a process of its own, as a gateway would be: in this one
        # it would hold the GIL and delay the SOS presses and the webhook receiver's clock.
        spawn = multiprocessing.get_context("spawn")
        started, done = spawn.Event(), spawn.Event()
        flooder = spawn.Process(
            target=_flood, args=(settings, messages, started, done), daemon=True
        )
        say(f"flooding with {junk:,} junk messages, pressing SOS every {interval_s} s ...")
        flooder.start()
        if not started.wait(60):
            raise TimeoutError("the flooding client did not start")
        began = time.time()
        done.wait(0.2)  # the flood is under way: the SOS land in its middle
        published: dict[str, float] = {}
        index = 0
        while not done.is_set() and index < sos:
            published[households[index].household_id] = press(index)
            index += 1
            done.wait(interval_s)
        done.wait(300)
        flood_s = time.time() - began
        flooder.join(timeout=10)
        kit.wait_for_webhooks(stack, receiver, len(published) + kit.WARMUP_SOS, wait_s)
        time.sleep(1)
        stored = kit.stored_times(str(settings.data_dir / "alerts.sqlite3"), set(published))
        in_alerts = kit.record_times(settings, settings.kafka.topics.alerts, "sos")
        say("waiting for the bridge to acknowledge every junk message ...")
        deadline = time.time() + drain_s
        expected = junk + len(published) + kit.WARMUP_SOS
        while _acked(settings) < expected and time.time() < deadline:
            stack.check_apps()
            time.sleep(0.5)
        drained_s = time.time() - began
        letters = _dead_letter_topics(settings)
        dead = len(letters) - dead_before
        sos_topics = {households[i].device("button-sos").mqtt_topic for i in range(index)}
        sos_dead = sum(1 for topic in letters if topic in sos_topics)
        # Read once the main lane is through: its late copies of the SOS must be paired.
        sos_records: dict[str, int] = {}
        in_sos = kit.record_times(settings, settings.kafka.topics.sos, None, sos_records)
        log_lines = len(log_path.read_bytes().splitlines()) - log_lines_before
    return {
        "junk": junk,
        "flood_s": round(flood_s, 2),
        "flood_msgs_per_s": round(junk / max(flood_s, 1e-9), 1),
        "sos": len(published),
        **kit.latencies(published, receiver, stored),
        "stage_p50_ms": kit.stages(published, in_sos, in_alerts, stored),
        "stage_p99_ms": kit.stages(published, in_sos, in_alerts, stored, q=99),
        "junk_dead_lettered": dead,
        "acked_after_s": round(drained_s, 1),
        "sos_dead_lettered": sos_dead,
        "sos_records": sum(sos_records.get(hh, 0) for hh in published),
        "bridge_log_lines": log_lines,
    }
