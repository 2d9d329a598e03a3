"""SOS latency: MQTT publish of an SOS -> alert stored and webhook received, under load.

An isolated stack (see :mod:`bench.pipeline`) runs the bridge, the detector worker and the
alerts service; a real HTTP server on loopback receives the webhooks. Each SOS comes from a
different household (one open alert per household and kind, so every SOS must notify),
pressed on its registered anbu button while a background publisher keeps simulated
telemetry flowing. The latency of one SOS is the later of two moments (the alert row stored
by the alerts service, the webhook received) minus the moment it was published.
"""

from __future__ import annotations

import threading
import time
from itertools import cycle
from typing import Any

from bench.device_load import bench_households, native_messages
from bench.inactivity_lag import inactivity_lag, lag_records
from bench.sos_stack import (
    WARMUP_SOS,
    latencies,
    record_times,
    sos_stack,
    stages,
    stored_times,
    wait_for_webhooks,
)
from config import Settings
from simulator.publish import connect


def _background(
    settings: Settings,
    messages: list[tuple[str, bytes]],
    rate: float,
    stop: threading.Event,
    sent: list[int],
) -> None:
    """Publish telemetry at ``rate`` messages/s until ``stop`` is set."""
    client = connect(settings, "bench-sos-load")
    began = time.time()
    count = 0
    try:
        for topic, payload in cycle(messages):
            if stop.is_set():
                break
            client.publish(topic, payload, qos=1)
            count += 1
            ahead = began + count / rate - time.time()
            if ahead > 0.001:
                stop.wait(ahead)
    finally:
        sent.append(count)
        client.loop_stop()
        client.disconnect()


def run(
    sos: int = 1000,
    interval_s: float = 0.03,
    load_msgs_per_s: float = 200.0,
    wait_s: float = 120.0,
    lag_households: int = 200,
    lag_inactivity_s: float = 60.0,
    progress: Any = None,
) -> dict[str, Any]:
    """Measure SOS latency p50/p99 over ``sos`` SOS events under background telemetry.

    Args:
        sos: SOS events (one per household).
        interval_s: time between two SOS publishes.
        load_msgs_per_s: background telemetry, native MQTT messages per second.
        wait_s: how long after the last SOS to wait for the stragglers.
        lag_households: households for the inactivity-lag measurement (0: skip it).
        lag_inactivity_s: their inactivity threshold.
        progress: called with a line of text as the run goes.
    """
    say = progress or (lambda _text: None)
    simulation = bench_households(sos + WARMUP_SOS, seed=11)
    households = simulation.households
    say(f"simulating {len(households)} households ...")
    load = native_messages(simulation, 50_000)
    with sos_stack(
        simulation, lag_records(lag_households, lag_inactivity_s), say
    ) as (stack, receiver, press):
        settings = stack.settings
        stop = threading.Event()
        sent: list[int] = []
        loader = threading.Thread(
            target=_background, args=(settings, load, load_msgs_per_s, stop, sent), daemon=True
        )
        loader.start()
        time.sleep(2)
        say(f"publishing {sos} SOS under {load_msgs_per_s:.0f} telemetry messages/s ...")
        published: dict[str, float] = {}
        for index in range(sos):
            published[households[index].household_id] = press(index)
            time.sleep(interval_s)
        wait_for_webhooks(stack, receiver, sos + WARMUP_SOS, wait_s)
        stop.set()
        loader.join(timeout=10)
        time.sleep(1)
        stored = stored_times(str(settings.data_dir / "alerts.sqlite3"), set(published))
        # Where the time goes: Kafka's CreateTime of the SOS record (bridge) and of the
        # worker's alert record, and the moment the alerts service stored the alert.
        in_sos = record_times(settings, settings.kafka.topics.sos, None)
        in_alerts = record_times(settings, settings.kafka.topics.alerts, "sos")
        lag = None
        if lag_households:
            say(f"inactivity alert lag: {lag_households} households, {lag_inactivity_s:.0f} s ...")
            lag = inactivity_lag(settings, lag_households, lag_inactivity_s)
    return {
        "sos": sos,
        "background_msgs_per_s": load_msgs_per_s,
        "background_messages": sent[0] if sent else 0,
        **latencies(published, receiver, stored),
        "inactivity_lag": lag,
        "stage_p50_ms": stages(published, in_sos, in_alerts, stored),
    }
