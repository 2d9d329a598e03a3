"""The SOS lane: a second MQTT session of the bridge that carries only what can be an SOS.

Mosquitto keeps one queue per client session and delivers it in order, so within the main
session an SOS waits behind every message that arrived before it: 50,000 junk messages
held an SOS for 10 s. The lane is a session of its own (client id ``<bridge>-sos``),
subscribed only to the topics an SOS can come from (:func:`ingest.priority.sos_filters`:
registered gateways, buttons and robots, followed as the registry changes), with a Kafka
producer of its own (linger 0, its own connection, never behind dead letters or telemetry).
It acknowledges at once whatever is not an SOS (the main lane handles that copy; junk is not
even logged here) and an SOS once Kafka has it. The main lane still reads everything, SOS
included, so an SOS from a topic the lane does not follow yet is handled as before;
:class:`ingest.priority.SosClaims` makes one record of the two copies.

The lane's subscriptions are plain, not shared: Mosquitto 2.0.11 restores a persistent
session's plain subscriptions after its own restart but not its shared ones, so an SOS
published before the lane reconnects is queued for it instead of dropped. With several
bridges each lane gets every SOS; they carry the same idempotency key, and the detector's
deterministic alert ids and the alerts service's seen-events dedupe make one alert of them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from anbu.timeutil import utcnow
from config import Settings
from ingest.kafka_sink import Delivery, KafkaSink
from ingest.mqtt_session import connect_session, disconnect, session_client
from ingest.normalise import Inbound, Normaliser
from ingest.priority import SosClaims, is_sos, sos_filters
from ingest.ratelimit import RateLimitedLog
from ingest.registry_cache import RegistryCache

log = logging.getLogger(__name__)

LANE = "sos"
"""The lane's name in :class:`ingest.priority.SosClaims`."""

_CHUNK = 500
"""Filters per SUBSCRIBE packet (well under Mosquitto's packet size limit)."""


class SosLane:
    """The bridge's SOS session and producer.

    Args:
        settings: anbu settings.
        cache: the bridge's registry cache (shared with the main lane).
        normaliser: the bridge's normaliser (shared, so both lanes make the same SOS).
        claims: the pairing of the two lanes' copies.
        bridge_id: the bridge's client id; the lane's is ``<bridge_id>-sos``.
    """

    def __init__(
        self,
        settings: Settings,
        cache: RegistryCache,
        normaliser: Normaliser,
        claims: SosClaims,
        bridge_id: str,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.normaliser = normaliser
        self.claims = claims
        self.client_id = f"{bridge_id}-sos"
        self.sink = KafkaSink(settings, self._delivered)
        self.sent = 0
        self.received = 0
        self._pending = 0
        self._generation = 0
        self._subscribed: set[str] = set()  # requested (what the diffs start from)
        self._confirmed: set[str] = set()  # acknowledged by the broker
        self._sub_mids: dict[int, list[str]] = {}
        self._version = -1
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.connected = threading.Event()
        self._log = RateLimitedLog(log, settings.ingest.log_every.total_seconds())
        self._follower = threading.Thread(target=self._follow, name="sos-lane-subs", daemon=True)
        self.client = session_client(settings, self.client_id, self._on_connect,
                                     self._on_disconnect, self._on_message, self._on_subscribe)

    @property
    def filters(self) -> set[str]:
        """The topic filters the broker confirmed (without the share prefix)."""
        with self._lock:
            return set(self._confirmed)

    def start(self) -> None:
        """Start the producer, connect (persistent session) and follow the registry."""
        self.sink.start()
        # an SOS held while the bridge is down waits in this session
        connect_session(self.client, self.settings)
        self._follower.start()

    def stop(self, timeout_s: float = 10.0, *, end_session: bool = False) -> bool:
        """Let Kafka confirm what is in flight, acknowledge it, and disconnect.

        Args:
            timeout_s: how long to wait for Kafka.
            end_session: end the persistent session (retiring the bridge), but only if
                nothing is left unacknowledged.

        Returns:
            True if nothing the lane took was left unacknowledged.
        """
        self._stopping.set()
        self.sink.close(timeout_s)
        with self._lock:
            drained = self._pending == 0
        disconnect(self.client, end_session=end_session and drained)
        self.client.loop_stop()
        if self._follower.is_alive():
            self._follower.join(timeout_s)
        return drained

    # -- subscriptions ----------------------------------------------------------------

    def _follow(self) -> None:
        """Keep the subscriptions equal to the registry's SOS sources."""
        while not self._stopping.wait(0.2):
            try:
                if self.connected.is_set() and self.cache.version != self._version:
                    self._resubscribe()
                    # While the registry keeps changing (a bulk import), re-derive at most
                    # every second: it takes a tenth of a second at 100,000 households.
                    self._stopping.wait(1.0)
            except Exception as exc:  # never let the follower die
                self._log.error("subscribe", "SOS lane subscriptions not updated: %r", exc)

    def _resubscribe(self) -> None:
        version = self.cache.version
        wanted = sos_filters(self.cache)
        with self._lock:
            added = sorted(wanted - self._subscribed)
            removed = sorted(self._subscribed - wanted)
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        for start in range(0, len(added), _CHUNK):
            chunk = added[start : start + _CHUNK]
            with self._lock:  # held so the SUBACK cannot be handled before its mid is known
                code, mid = self.client.subscribe([(f, options) for f in chunk])
                if code != mqtt.MQTT_ERR_SUCCESS or mid is None:
                    return  # not connected: the next connection subscribes everything
                self._subscribed.update(chunk)
                self._sub_mids[mid] = chunk
        for start in range(0, len(removed), _CHUNK):
            chunk = removed[start : start + _CHUNK]
            code, _mid = self.client.unsubscribe(chunk)
            if code != mqtt.MQTT_ERR_SUCCESS:
                return
            with self._lock:
                self._subscribed.difference_update(chunk)
                self._confirmed.difference_update(chunk)
        self._version = version
        if added or removed:
            log.info(
                "SOS lane: %d topic filters (+%d, -%d)", len(wanted), len(added), len(removed)
            )

    # -- MQTT callbacks (paho's network thread) ------------------------------------------

    def _on_connect(
        self, _client: Any, _userdata: Any, flags: Any, reason: Any, _properties: Any
    ) -> None:
        if reason.is_failure:
            self._log.error("connect", "SOS lane: MQTT connection refused: %s", reason)
            return
        self._generation += 1
        # Subscribe everything again on every connection: the broker may have lost the
        # session (a filter the session still holds from before is only acknowledged).
        with self._lock:
            self._subscribed.clear()
            self._confirmed.clear()
            self._sub_mids.clear()
        self._version = -1
        self.connected.set()
        log.info("SOS lane connected (session kept by broker: %s)", bool(flags.session_present))

    def _on_subscribe(self, _client: Any, _userdata: Any, mid: int, codes: Any, _p: Any) -> None:
        with self._lock:
            chunk = self._sub_mids.pop(mid, [])
            granted = [f for f, code in zip(chunk, codes, strict=False) if not code.is_failure]
            self._confirmed.update(granted)
        if len(granted) < len(chunk):
            self._log.error(
                "subscribe", "SOS lane: %d subscriptions refused", len(chunk) - len(granted)
            )

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _p: Any
    ) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            self._log.warning("disconnect", "SOS lane: MQTT disconnected (%s)", reason)

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # left unacknowledged: the broker redelivers it
        try:
            self.handle(message.topic, bytes(message.payload), message.mid, message.qos)
        except Exception as exc:  # never let one message stop paho's loop
            self._log.error("handle", "SOS lane: message on %s not handled: %r", message.topic, exc)

    # -- the work -----------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, mid: int, qos: int) -> int:
        """Send the SOS a message carries, or acknowledge it at once; return records sent."""
        self.received += 1
        if is_sos(self.cache, topic, payload):
            result = self.normaliser.normalise(Inbound(topic, payload, utcnow()))
            calls = [s for s in result.sos if self.claims.claim(s.idempotency_key, LANE)]
            if calls:
                delivery = Delivery(mid, qos, self._generation, len(calls))
                with self._lock:
                    self._pending += 1
                for sos in calls:
                    key = sos.household_id.encode()
                    self.sink.send_now(self.settings.kafka.topics.sos, key, sos.to_json(), delivery)
                self.sent += len(calls)
                return len(calls)
        # Not an SOS, or the main lane already sent it: the main lane owns this message.
        if qos == 1:
            self._ack(mid)
        return 0

    def _delivered(self, deliveries: list[Delivery]) -> None:
        with self._lock:
            self._pending -= len(deliveries)
        for delivery in deliveries:
            # A message of an old connection is not acknowledged: the broker redelivers it.
            if delivery.qos == 1 and delivery.generation == self._generation:
                self._ack(delivery.mid)

    def _ack(self, mid: int) -> None:
        code = self.client.ack(mid, 1)
        if code != mqtt.MQTT_ERR_SUCCESS:
            self._log.warning("ack", "SOS lane: MQTT ack of %d failed: %s", mid, code)


def wait_subscribed(lane: SosLane, filters: set[str], timeout_s: float = 10.0) -> bool:
    """Wait until ``lane`` is subscribed to every filter in ``filters`` (tests, tools)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if filters <= lane.filters:
            return True
        time.sleep(0.05)
    return False
