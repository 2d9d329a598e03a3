"""``anbu bridge``: MQTT (shared subscription, QoS 1, persistent session) to Kafka.

At least once, end to end: the bridge subscribes with manual acknowledgements and acks an
MQTT message only after Kafka has confirmed every record made from it. If the bridge dies,
the broker keeps the unacknowledged and newly arriving messages in the bridge's persistent
session (fixed client id, clean start off, session expiry) and delivers them when it is back.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt

from anbu.health import Heartbeat, Report, instance_name
from anbu.timeutil import utcnow
from config import Settings
from ingest.exceptions import RegistryUnavailable
from ingest.kafka_sink import Delivery, KafkaSink
from ingest.metrics import IngestMetrics, MetricsOutlet
from ingest.mqtt_session import (
    ack_all,
    connect_session,
    default_client_id,
    disconnect,
    session_client,
    shared_filters,
)
from ingest.normalise import Inbound, Normaliser, Result
from ingest.priority import SosClaims
from ingest.ratelimit import RateLimitedLog
from ingest.registry_cache import RegistryCache
from ingest.registry_follower import RegistryFollower
from ingest.sos_lane import SosLane

__all__ = ["GIVE_UP_AFTER_S", "STUCK_AFTER_S", "Bridge", "default_client_id", "shared_filters"]

log = logging.getLogger(__name__)

STUCK_AFTER_S = 10.0
"""Work waiting this long with nothing confirmed by Kafka makes the bridge DEGRADED."""

GIVE_UP_AFTER_S = 600.0
"""Nothing confirmed for this long, new producers included: exit non-zero and be restarted."""

class Bridge:
    """The MQTT to Kafka bridge.

    Args:
        settings: anbu settings.
        client_id: MQTT client id; default from the settings (see :func:`default_client_id`).
        serve_metrics: serve ``/metrics`` on ``settings.ingest.metrics_port``.
        write_influx: write the counters to InfluxDB every ``settings.ingest.metrics_flush``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str | None = None,
        serve_metrics: bool = True,
        write_influx: bool = True,
    ) -> None:
        self.settings = settings
        self.client_id = client_id or default_client_id(settings)
        self.cache = RegistryCache()
        self.metrics = IngestMetrics(self.client_id, settings.ingest.unregistered_labels)
        self.normaliser = Normaliser(
            self.cache,
            device_time_window=settings.ingest.device_time_window,
            max_payload_bytes=settings.ingest.max_payload_bytes,
            log_every=settings.ingest.log_every,
        )
        self.follower = RegistryFollower(settings, self.cache, self._registry_changed)
        self.sink = KafkaSink(settings, self._delivered, self.metrics.add_kafka_error)
        # SOS first: a session and producer of their own (see ingest/sos_lane.py).
        self.claims = SosClaims()
        self.lane = SosLane(settings, self.cache, self.normaliser, self.claims, self.client_id)
        self.serve_metrics = serve_metrics
        self.write_influx = write_influx
        self.outlet = MetricsOutlet(
            settings, self.metrics, serve=serve_metrics, write_influx=write_influx
        )
        self._log = RateLimitedLog(log, settings.ingest.log_every.total_seconds())
        self._generation = 0
        self._stopping = threading.Event()
        self._retiring = threading.Event()
        self.subscribed = threading.Event()
        self.connected = threading.Event()
        self.heartbeat = Heartbeat(
            settings.data_dir,
            instance_name(settings, "bridge"),
            [lambda: self.sink.health(STUCK_AFTER_S), self._lane_health, self.health],
        )
        self.client = session_client(settings, self.client_id, self._on_connect,
                                     self._on_disconnect, self._on_message, self._on_subscribe)

    # -- lifecycle ------------------------------------------------------------------

    def start(self, registry_timeout_s: float | None = None) -> None:
        """Load the registry, then connect to MQTT and start forwarding.

        Messages are not taken from the broker before the registry is loaded, so none is
        dead-lettered as unregistered only because the bridge had just started.

        Raises:
            RegistryUnavailable: the registry did not load within ``registry_timeout_s``.
        """
        self.outlet.start_serving()
        if not self.follower.is_alive():
            self.follower.start()
        self.heartbeat.start()
        if not self.follower.wait_loaded(registry_timeout_s):
            raise RegistryUnavailable(
                f"the registry topic {self.follower.topic} did not load in {registry_timeout_s} s"
            )
        self.sink.start()
        self.lane.start()
        self.outlet.start_writing(self._stopping)
        mqtt_settings = self.settings.mqtt
        log.info(
            "connecting to MQTT %s:%d as %s", mqtt_settings.host, mqtt_settings.port, self.client_id
        )
        connect_session(self.client, self.settings)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking messages, let Kafka confirm what is in flight, ack it, disconnect."""
        # No unsubscribe: the persistent session must keep queueing while the bridge is down.
        # Messages arriving from now on are left unacknowledged; the broker redelivers them.
        self._stopping.set()
        self.lane.stop(timeout_s)
        self.sink.close(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()
        self.follower.stop()
        self.heartbeat.stop()
        self.outlet.stop_serving()
        self.outlet.join(timeout_s)

    def retire(self, idle_s: float = 3.0, timeout_s: float = 600.0) -> bool:
        """Scale down for good: drain this bridge's persistent session, then end it.

        Mosquitto gives every member of a shared subscription its share of the messages even
        while that member is offline, and keeps them in its session. A bridge instance removed
        for good would strand its share (until the session expires, then lose it). Retiring
        unsubscribes (no new share), forwards what is still queued for this client id, and
        ends the session (session expiry 0) once nothing has arrived for ``idle_s`` and all is
        acknowledged. Call after :meth:`start`.

        Returns:
            True if the session was drained and ended; False if it was not drained within
            ``timeout_s`` (then the session is kept, so nothing is lost).
        """
        self._retiring.set()
        deadline = time.monotonic() + timeout_s
        if self.connected.wait(timeout_s):
            self.client.unsubscribe(shared_filters(self.settings))
        seen, quiet_since = self.metrics.messages, time.monotonic()
        drained = False
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now, messages = time.monotonic(), self.metrics.messages
            if messages != seen:
                seen, quiet_since = messages, now
            elif now - quiet_since >= idle_s and self.metrics.acked >= messages:
                drained = True
                break
        self._stopping.set()
        # The SOS lane's session ends too (only if it holds nothing unacknowledged).
        drained = self.lane.stop(end_session=drained) and drained
        self.sink.close()
        disconnect(self.client, end_session=drained)
        if drained:
            log.info("retired: session %s drained and ended", self.client_id)
        else:
            log.error("not retired: session %s still had messages; it is kept", self.client_id)
        self.client.loop_stop()
        self.follower.stop()
        self.outlet.stop_serving()
        return drained

    def run_forever(self) -> int:
        """Run until SIGTERM or SIGINT, then stop cleanly; return the exit status.

        Returns 1 when Kafka has confirmed nothing for :data:`GIVE_UP_AFTER_S` although new
        producers were tried: a fresh process is the last resort (MQTT keeps the messages).
        """
        done = threading.Event()

        def _signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            done.set()

        signal.signal(signal.SIGTERM, _signal)
        signal.signal(signal.SIGINT, _signal)
        self.start()
        status = 0
        while not done.wait(5.0):
            # The SOS lane's sink may hold the only copy of an SOS (the main lane acks its
            # own copy once the lane claimed it), so its stall counts as much as telemetry's.
            stalled = max(self.sink.stalled_s(), self.lane.sink.stalled_s())
            if stalled >= GIVE_UP_AFTER_S:
                log.error("Kafka confirmed nothing for %.0f s (%d new producers tried): exiting "
                          "to be restarted", stalled, self.sink.replacements)
                status = 1
                break
        self.stop()
        return status

    def _lane_health(self) -> Report:
        """Whether Kafka confirms the SOS lane's records (its own producer)."""
        report = self.lane.sink.health(STUCK_AFTER_S)
        return Report(
            None if report.problem is None else f"SOS lane: {report.problem}",
            {f"sos_lane_{key}": value for key, value in report.facts.items()},
        )

    def health(self) -> Report:
        """Whether the bridge is connected to MQTT with its registry loaded (a heartbeat probe)."""
        facts = {
            "mqtt_connected": self.connected.is_set(),
            "registry_loaded": self.follower.loaded.is_set(),
            "registry_records": self.follower.records,
            "messages": self.metrics.messages,
            "acked": self.metrics.acked,
        }
        if not self.follower.loaded.is_set():
            return Report(f"registry topic {self.follower.topic} not loaded yet", facts)
        if not self.connected.is_set():
            return Report("not connected to MQTT", facts)
        return Report(None, facts)

    # -- MQTT callbacks (paho's network thread) ------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: Any,
        _properties: Any,
    ) -> None:
        if reason.is_failure:
            self._log.error("connect", "MQTT connection refused: %s", reason)
            return
        self._generation += 1
        self.connected.set()
        log.info("MQTT connected (session kept by broker: %s)", bool(_flags.session_present))
        if not self._stopping.is_set() and not self._retiring.is_set():
            client.subscribe([(topic, 1) for topic in shared_filters(self.settings)])

    def _on_subscribe(self, _client: Any, _userdata: Any, _mid: int, codes: Any, _p: Any) -> None:
        failed = [code for code in codes if code.is_failure]
        if failed:
            self._log.error("subscribe", "MQTT subscription refused: %s", failed)
        else:
            self.subscribed.set()

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _p: Any
    ) -> None:
        self.subscribed.clear()
        self.connected.clear()
        if not self._stopping.is_set():
            self._log.warning("disconnect", "MQTT disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return
        try:
            payload = message.payload
            self.handle(message.topic, bytes(payload), message.mid, message.qos)
        except Exception as exc:  # never let one message stop paho's loop
            self._log.error("handle", "message on %s not handled: %r", message.topic, exc)

    # -- the work -----------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, mid: int, qos: int) -> Result:
        """Normalise one message, hand its records to Kafka, ack it once they are confirmed."""
        result = self.normaliser.normalise(Inbound(topic, payload, utcnow()))
        self.metrics.record(result)
        telemetry = bool(result.events) and result.household_id is not None
        # An SOS the SOS lane already sent is not sent again (its copy there was first).
        calls = [sos for sos in result.sos if self.claims.claim(sos.idempotency_key, "main")]
        records = len(calls) + (result.dead_letter is not None) + telemetry
        delivery = Delivery(mid, qos, self._generation, records)
        if records == 0:  # ignored on purpose: nothing to wait for
            self._delivered([delivery])
            return result
        topics = self.sink.topics
        key = (result.household_id or topic).encode()
        for sos in calls:
            # SOS first, at once, unbatched: it must not wait behind telemetry.
            self.sink.send_now(topics.sos, key, sos.to_json(), delivery)
        if result.dead_letter is not None:
            self.sink.send_now(topics.deadletter, key, result.dead_letter.to_json(), delivery)
        if telemetry:
            assert result.household_id is not None
            self.sink.add_events(result.household_id, result.events, delivery)
        return result

    def _delivered(self, deliveries: list[Delivery]) -> None:
        self.metrics.add_acked(len(deliveries))
        generation = self._generation
        # A message of an old connection is not acknowledged: the broker redelivers it.
        mids = [d.mid for d in deliveries if d.qos == 1 and d.generation == generation]
        if mids:
            ack_all(self.client, mids, self._ack)

    def _ack(self, mid: int) -> None:
        code = self.client.ack(mid, 1)
        if code != mqtt.MQTT_ERR_SUCCESS:
            self._log.warning("ack", "MQTT ack of %d failed: %s", mid, code)

    def _registry_changed(self, devices: int) -> None:
        self.metrics.registry_devices = devices
