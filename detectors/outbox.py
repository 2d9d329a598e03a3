"""Alerts on their way to Kafka, so that a checkpoint can wait for every alert raised before it.

The worker saves household state only at checkpoints. A saved state that records an alert as
raised must never exist unless Kafka has acknowledged that alert: otherwise a worker killed
after the save would neither have sent it nor raise it again. So every alert gets a future
the moment the core returns it (synchronously, before the worker awaits anything), and a
checkpoint takes the futures of all alerts raised so far (:meth:`Outbox.waiting`) in the same
synchronous step as its snapshot of the state, and waits for them before it writes.

A send that fails is sent again (after ``retry_s``) until Kafka acknowledges it; the alert's
future completes only then, so a checkpoint waits for it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Outbox(Generic[T]):
    """Sends records (alerts, dead letters) and tracks those Kafka has not acknowledged yet.

    Args:
        send: starts sending one record (e.g. through a Faust topic's ``send``); the
            awaitable it returns completes when Kafka acknowledged it.
        describe: names a record in log lines.
        retry_s: wait before sending a failed record again.
    """

    def __init__(
        self,
        send: Callable[[T], Awaitable[Awaitable[Any]]],
        describe: Callable[[T], str] = repr,
        retry_s: float = 0.5,
    ) -> None:
        self._send = send
        self._describe = describe
        self._retry_s = retry_s
        self._pending: set[asyncio.Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failures = 0

    async def publish(self, items: Iterable[T]) -> None:
        """Send records (their futures are registered before the first await)."""
        pending = [(item, self._track()) for item in items]
        for item, done in pending:
            await self._deliver(item, done)

    def waiting(self) -> list[asyncio.Future[None]]:
        """The futures of every record handed in so far and not yet acknowledged."""
        return list(self._pending)

    async def drained(self, futures: list[asyncio.Future[None]]) -> None:
        """Wait until these records are acknowledged (see :meth:`waiting`)."""
        if futures:
            await asyncio.gather(*futures)

    def _track(self) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.add(done)
        done.add_done_callback(self._pending.discard)
        return done

    async def _deliver(self, item: T, done: asyncio.Future[None]) -> None:
        while True:
            try:
                ack = await self._send(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # producer not ready or its buffer refused: try again
                self._failed(item, exc)
                await asyncio.sleep(self._retry_s)
                continue
            future = asyncio.ensure_future(ack)
            future.add_done_callback(lambda f: self._acked(item, done, f))
            return

    def _acked(self, item: T, done: asyncio.Future[None], ack: asyncio.Future[Any]
               ) -> None:
        if done.done():
            return
        error = ack.exception() if not ack.cancelled() else asyncio.CancelledError()
        if error is None:
            self.sent += 1
            done.set_result(None)
            return
        self._failed(item, error)
        task = asyncio.get_running_loop().create_task(self._resend(item, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resend(self, item: T, done: asyncio.Future[None]) -> None:
        await asyncio.sleep(self._retry_s)
        await self._deliver(item, done)

    def _failed(self, item: T, exc: BaseException) -> None:
        self.failures += 1
        log.warning("%s not acknowledged by Kafka (%r); sending it again",
                    self._describe(item), exc)
