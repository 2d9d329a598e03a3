"""``anbu alerts``: the service that turns detector events into acted-on alerts.

It consumes ``anbu.alerts`` (aiokafka group consumer, see :mod:`anbu.kafka_topics`) and
``anbu.registry`` (read whole, for each household's settings), keeps the lifecycle in the
alert store, escalates what nobody acknowledged, sends notifications, and writes every
change to InfluxDB. Its Kafka inputs are :mod:`alerts.intake`; its notifiers are built by
:mod:`alerts.notifier_setup`.

Embedding it (tests, benchmarks)::

    service = AlertService(settings)
    await service.start()          # returns once it consumes anbu.alerts
    ...
    await service.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from alerts import metrics
from alerts.checkin_scheduler import CheckinScheduler
from alerts.directory import Directory, RegistryDirectory
from alerts.dispatch import Dispatcher
from alerts.influx_sink import InfluxSink
from alerts.intake import AlertIntake
from alerts.lifecycle import Lifecycle, Outcome
from alerts.notifier_setup import build_notifiers, callback_url
from alerts.store import AlertStore
from alerts.voicebot_callback import callback_app, serve
from anbu.events import AlertEvent
from anbu.health import Heartbeat, Report, kafka_heartbeat
from anbu.influx import InfluxClient
from anbu.kafka_consumers import ConsumerGaveUp, RestartPolicy, keep_running
from anbu.kafka_topics import ensure_topics
from anbu.registry_reader import RegistryChange, RegistryReader
from anbu.timeutil import utcnow
from config import Settings

__all__ = ["AlertService", "BackgroundService", "build_notifiers", "callback_url"]

log = logging.getLogger(__name__)


class AlertService:
    """The alerts service.

    Args:
        settings: anbu settings.
        directory: the registry view; default: ``anbu.registry`` plus the registry database.
        serve_metrics: serve Prometheus metrics on ``alerts.metrics_port``.
        clock: the time scheduled check-in calls are read in (tests pass a fake; the
            lifecycle and escalation always run on the real clock).
    """

    def __init__(
        self,
        settings: Settings,
        directory: Directory | None = None,
        *,
        serve_metrics: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.directory: Directory = directory or RegistryDirectory.from_settings(settings)
        self.store = AlertStore.from_settings(settings)
        self.lifecycle = Lifecycle.from_settings(settings, self.store, self.directory)
        self.notifiers = build_notifiers(settings, self.directory)
        self.dispatcher = Dispatcher(
            self.store,
            self.notifiers,
            attempts=settings.alerts.notify_attempts,
            backoff_max_s=settings.alerts.notify_backoff_max.total_seconds(),
            send_timeout_s=settings.alerts.notify_timeout.total_seconds(),
        )
        self.sink = InfluxSink(
            self.store,
            InfluxClient.from_settings(settings),
            max_points=settings.influx.retry_buffer_points,
        )
        self.serve_metrics = serve_metrics
        self.scheduler = CheckinScheduler.from_settings(
            settings, self.lifecycle, self.directory, self.notifiers.get("voicebot"), clock
        )
        self.tick_s = settings.alerts.tick_interval.total_seconds()
        self.policy = RestartPolicy.from_settings(settings)
        self.intake = AlertIntake(settings, self.policy, self._apply)
        self.consuming = self.intake.consuming
        self.ended = asyncio.Event()
        """Set when a loop gave up (:attr:`failure`): the process should exit non-zero."""
        self.failure: ConsumerGaveUp | None = None
        self.registry = RegistryReader(
            settings, self._apply_registry, client_id=f"{settings.kafka.client_id}-alerts-registry"
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: AIOKafkaProducer | None = None
        self._heartbeat: Heartbeat | None = None
        self._callback: Any = None

    # --- running ----------------------------------------------------------------------

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start every loop; return once ``anbu.alerts`` is being consumed.

        Raises:
            TimeoutError: Kafka did not let the consumer join within ``timeout_s``.
        """
        self._heartbeat = kafka_heartbeat(self.settings, "alerts", self._health)
        await asyncio.to_thread(ensure_topics, self.settings)
        if self.serve_metrics and self.settings.alerts.metrics_port:
            from prometheus_client import start_http_server

            start_http_server(
                self.settings.alerts.metrics_port,
                addr=self.settings.alerts.metrics_host,
                registry=metrics.REGISTRY,
            )
        kafka = self.settings.kafka
        self._producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers, client_id=f"{kafka.client_id}-alerts"
        )
        await self._producer.start()
        self.intake.producer = self._producer
        if isinstance(self.directory, RegistryDirectory):
            self._spawn(self.registry.run, "registry")
            # Households' settings first, so the first alerts escalate on their delays;
            # never wait long: an SOS must not wait for the registry.
            await self.registry.wait_loaded(10)
        self._spawn(self.intake.consume_alerts, "alerts consumer")
        self._spawn(self.intake.consume_sos, "sos consumer")
        self._spawn(self._tick, "escalation")
        self._spawn(self._write_influx, "influx writer")
        self.dispatcher.kick()
        section = self.settings.alerts
        secret = section.voicebot_secret  # set whenever the voice bot is (build_notifiers)
        if "voicebot" in self.notifiers and section.voicebot_callback_port and secret:
            app = callback_app(
                self.lifecycle,
                secret.get_secret_value(),
                self.dispatcher.send,
                self.scheduler,
            )
            self._callback = await serve(
                app, section.voicebot_callback_host, section.voicebot_callback_port
            )
        if self.scheduler is not None:
            # After the callback is served: a call's report may come back at once.
            self._spawn(self._call_on_schedule, "check-in calls")
        await asyncio.wait_for(self.consuming.wait(), timeout_s)
        log.info("alerts service consuming %s", kafka.topics.alerts)

    async def stop(self) -> None:
        """Stop consuming, let notifications in flight finish briefly, flush InfluxDB."""
        if self._callback is not None:
            await self._callback.cleanup()
            self._callback = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.dispatcher.drain(), 5)
        await self.dispatcher.cancel()
        try:
            await asyncio.to_thread(self.sink.pump)
        except Exception:  # noqa: BLE001 - what is not written waits in the store
            log.exception("last InfluxDB write at shutdown failed; it is kept for next start")
        for notifier in self.notifiers.values():
            with contextlib.suppress(Exception):
                await notifier.close()
        if self._producer is not None:
            await self._producer.stop()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self.store.close()

    async def run_forever(self) -> None:
        """Start, then run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def _health(self) -> Report:
        facts = {
            "consuming": self.consuming.is_set(),
            "registry_loaded": self.registry.loaded.is_set(),
        }
        if not self.consuming.is_set():
            return Report("not consuming anbu.alerts yet", facts)
        return Report(None, facts)

    def _spawn(self, loop: Callable[[], Awaitable[None]], name: str) -> None:
        async def guarded() -> None:
            try:
                await keep_running(loop, f"alerts {name}", self.policy)
            except ConsumerGaveUp as exc:
                # the owner of the process (``anbu alerts``) exits non-zero on this
                self.failure = exc
                self.ended.set()

        self._tasks.append(asyncio.create_task(guarded(), name=f"alerts-{name}"))

    # --- loops ------------------------------------------------------------------------

    def _apply_registry(self, change: RegistryChange) -> None:
        # Tombstones follow a retired record, which already removed the household's policy.
        if change.record is not None:
            assert isinstance(self.directory, RegistryDirectory)
            self.directory.apply_record(change.record)

    def _apply(self, event: AlertEvent) -> None:
        outcome = self.lifecycle.apply(event, utcnow())
        metrics.EVENTS.labels(event.action.value, _outcome_name(outcome)).inc()
        if outcome.notifications:
            self.dispatcher.send(outcome.notifications)
        if outcome.created:
            log.info(
                "alert %s opened: %s %s household %s",
                event.alert_id,
                event.severity.value,
                event.kind.value,
                event.household_id,
            )

    async def _tick(self) -> None:
        beat = 0
        while True:
            await asyncio.sleep(self.tick_s)
            queued = self.lifecycle.escalate_due(utcnow())
            if queued:
                self.dispatcher.send(queued)
            beat += 1
            if beat % 20 == 0:
                # Notifications left pending by a previous run, or by a crash of a task.
                self.dispatcher.kick()
            if beat % 20 == 0:
                counts = self.store.counts()
                for state in ("open", "acknowledged"):
                    metrics.ACTIVE.labels(state).set(counts.get(state, 0))

    async def _call_on_schedule(self) -> None:
        assert self.scheduler is not None
        every = self.settings.alerts.checkin_poll_interval.total_seconds()
        while True:
            queued = await self.scheduler.poll()
            if queued:
                self.dispatcher.send(queued)
            await asyncio.sleep(every)

    async def _write_influx(self) -> None:
        while True:
            done = await asyncio.to_thread(self.sink.pump)
            await asyncio.sleep(self.tick_s if done else max(self.tick_s, 1.0))


def _outcome_name(outcome: Outcome) -> str:
    if outcome.duplicate:
        return "duplicate"
    if outcome.created:
        return "created"
    if outcome.closed:
        return "closed"
    if outcome.updated:
        return "updated"
    return "ignored"


class BackgroundService:
    """The alerts service on its own event loop in a thread, for tests and benchmarks.

    Example::

        with BackgroundService(settings) as svc:
            ...  # produce AlertEvents; svc.service.store holds the state

    Args:
        settings: anbu settings.
        directory: optional registry view (e.g. a :class:`alerts.directory.StaticDirectory`).
        clock: the time scheduled check-in calls are read in.
    """

    def __init__(
        self,
        settings: Settings,
        directory: Directory | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.clock = clock
        self.loop = asyncio.new_event_loop()
        self.service: AlertService | None = None
        self._thread: Any = None

    def start(self, timeout_s: float = 60.0) -> AlertService:
        """Start the service; return it once it consumes ``anbu.alerts``."""
        import threading

        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

        async def create() -> AlertService:
            service = AlertService(self.settings, self.directory, clock=self.clock)
            await service.start(timeout_s)
            return service

        self.service = asyncio.run_coroutine_threadsafe(create(), self.loop).result(timeout_s + 30)
        return self.service

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the service's loop and return its result."""

        async def wrapped() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(30)

    def stop(self) -> None:
        """Stop the service and its thread."""
        if self.service is not None:
            asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(60)
            self.service = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> AlertService:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
