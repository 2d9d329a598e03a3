"""Publishing simulated households over MQTT, in real time or accelerated.

Simulated time maps onto the wall clock as ``wall = wall_at_start + (t - sim_start) / speed``;
``speed`` 0 publishes as fast as the broker takes it. Devices' own timestamps carry the
wall-clock time of publishing: a real device's clock is not accelerated, and the bridge
distrusts device times far from its receive time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from config import Settings
from simulator.exceptions import SimulatorError
from simulator.model import SimDevice, SimEvent
from simulator.payloads import Message, NativeEncoder

log = logging.getLogger(__name__)


def connect(settings: Settings, client_id: str, *, timeout_s: float = 10.0) -> mqtt.Client:
    """Connect to the configured broker with the service account and start paho's loop.

    Raises:
        SimulatorError: the broker refused or did not answer.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            refused.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(settings.mqtt.host, settings.mqtt.port, settings.mqtt.keepalive_s)
    except OSError as exc:
        raise SimulatorError(
            f"cannot reach the MQTT broker at {settings.mqtt.host}:{settings.mqtt.port}: {exc}"
        ) from None
    client.loop_start()
    if not connected.wait(timeout_s) or refused:
        client.loop_stop()
        reason = refused[0] if refused else "no answer"
        raise SimulatorError(f"MQTT broker refused the connection: {reason}")
    return client


@dataclass(slots=True)
class PublishStats:
    """What a publishing run did."""

    events: int = 0
    messages: int = 0
    seconds: float = 0.0
    by_topic_kind: dict[str, int] = field(default_factory=dict)


def messages_of(
    events: Iterable[SimEvent], devices: dict[str, SimDevice], clock: Callable[[], float] | None
) -> Iterator[tuple[SimEvent, list[Message]]]:
    """Encode events as native MQTT messages, one device state per device."""
    encoder = NativeEncoder(devices)
    for event in events:
        yield event, encoder.encode(event, None if clock is None else clock())


def publish(
    client: mqtt.Client,
    events: Iterable[SimEvent],
    devices: dict[str, SimDevice],
    *,
    sim_start: float,
    speed: float,
    stop: threading.Event | None = None,
    progress_total_s: float | None = None,
    qos: int = 1,
) -> PublishStats:
    """Publish events at ``speed`` times real time (0: as fast as possible).

    Args:
        client: a connected client (see :func:`connect`).
        events: simulated events in time order.
        devices: every device by id, for its format and topic.
        sim_start: simulated epoch that maps to now.
        speed: simulated seconds per real second; 0 for no pacing.
        stop: set it to end the run early.
        progress_total_s: simulated seconds in the run, for the progress bar (none if unset).
        qos: MQTT QoS (1, as gateways use).
    """
    stats = PublishStats()
    wall0 = time.time()
    bar = (
        tqdm(total=round(progress_total_s / 3600), unit="sim h", desc="simulate", leave=False)
        if progress_total_s
        else None
    )
    shown_h = 0
    last: mqtt.MQTTMessageInfo | None = None
    for event, messages in messages_of(events, devices, time.time):
        if stop is not None and stop.is_set():
            break
        if speed > 0:
            delay = wall0 + (event.t - sim_start) / speed - time.time()
            if delay > 0.002:
                if stop is not None:
                    if stop.wait(delay):
                        break
                else:
                    time.sleep(delay)
        for topic, payload in messages:
            last = client.publish(topic, payload, qos=qos)
            stats.messages += 1
        stats.events += 1
        stats.by_topic_kind[event.kind] = stats.by_topic_kind.get(event.kind, 0) + 1
        if bar is not None:
            hours = int((event.t - sim_start) // 3600)
            if hours > shown_h:
                bar.update(hours - shown_h)
                shown_h = hours
    if last is not None:
        try:
            last.wait_for_publish(timeout=60)
        except (RuntimeError, ValueError) as exc:
            log.warning("not every message was confirmed by the broker: %s", exc)
    if bar is not None:
        bar.close()
    stats.seconds = time.time() - wall0
    return stats
