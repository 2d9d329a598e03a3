"""Keeps the bridge's :class:`RegistryCache` current from the registry topic, in a thread.

The bridge is threaded, so the shared :class:`~anbu.registry_reader.RegistryReader` runs here
on an event loop of its own. :attr:`RegistryFollower.loaded` is set once everything that was
on the topic at start-up has been applied, so the bridge can hold messages back until it
knows every device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from anbu.registry_reader import RegistryChange, RegistryReader
from config import Settings
from ingest.registry_cache import RegistryCache

log = logging.getLogger(__name__)


class RegistryFollower(threading.Thread):
    """Feeds a :class:`RegistryCache` from the registry topic until :meth:`stop`.

    Args:
        settings: anbu settings (Kafka servers, registry topic name).
        cache: the cache to feed.
        on_change: called with the cache size after each record.
    """

    def __init__(
        self,
        settings: Settings,
        cache: RegistryCache,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(name="registry-follower", daemon=True)
        self.cache = cache
        self.reader = RegistryReader(
            settings, self._apply, client_id=f"{settings.kafka.client_id}-bridge-registry"
        )
        self.topic = self.reader.topic
        self.loaded = threading.Event()
        self._on_change = on_change
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def records(self) -> int:
        """Registry records read so far."""
        return self.reader.records

    def stop(self) -> None:
        """Stop following (the consumer is closed on the way out)."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(task.cancel)

    def run(self) -> None:
        """Follow the topic until :meth:`stop`."""
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(self._follow())

    async def _follow(self) -> None:
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self._stopping.is_set():  # stop() came before there was a task to cancel
            return
        reading = asyncio.create_task(self.reader.run())
        try:
            await self.reader.loaded.wait()
            log.info("registry loaded: %d devices from %d records", len(self.cache), self.records)
            self.loaded.set()
            await reading
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    def _apply(self, change: RegistryChange) -> None:
        if change.record is None:
            self.cache.remove(change.key)
        else:
            self.cache.apply(change.record)  # a retired entity is removed there
        if self._on_change is not None:
            self._on_change(len(self.cache))

    def wait_loaded(self, timeout_s: float | None = None) -> bool:
        """Block until the initial load is done; log while waiting. Return whether it is."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            step = 5.0 if deadline is None else min(5.0, max(0.0, deadline - time.monotonic()))
            if self.loaded.wait(step):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            log.info("waiting for the registry topic %s to load", self.topic)
