"""What anbu's Kafka consumers share: group timeouts, one commit policy, one restart policy.

Every long-running consumer loop (the alerts service's, the series writer's, the last-seen
consumer's, the registry reader's) runs under :func:`keep_running`: a failed session is
logged, counted (:func:`failure_count`) and started again after a wait that doubles up to
a cap; one that keeps failing raises :class:`ConsumerGaveUp`, which its process turns into
exit code :data:`EXIT_GAVE_UP` so that its supervisor (``anbu up``, systemd, Docker)
restarts it and shows it restarting.

Offsets are committed through :class:`Committer`: a commit waits a bounded time, a failed
one is logged and counted, and several failures in a row end the session
(:class:`CommitStalled`). That is how a lost broker shows: aiokafka retries it quietly and
``getmany`` keeps returning nothing, but commits time out.

Example::

    async def session() -> None:
        async with AIOKafkaConsumer(topic, **GROUP_TIMEOUTS, ...) as consumer:
            committer = Committer("last-seen consumer", policy)
            while True:
                ...  # handle a batch
                await committer.commit(consumer)
                committer.check()  # raises CommitStalled after too many failures

    await keep_running(session, "last-seen consumer", policy)  # until cancelled or given up
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_never,
    wait_exponential,
)

from anbu.errors import AnbuError
from anbu.health import note_error

log = logging.getLogger(__name__)

GROUP_TIMEOUTS: dict[str, int] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "rebalance_timeout_ms": 5000,
}
"""aiokafka group settings. Measured with the detector worker on Apache Kafka 3.9: a member
restarted after a crash (SIGKILL) joins in ~11 s with these, ~60 s with Faust's defaults
(the broker waits for the dead member's session to time out); a first join takes ~6 s against
~8.5 s. (On Tansu even a first join took ~30 s with the defaults.)"""

EXIT_GAVE_UP = 3
"""The exit code of a process whose consumer gave up (1 is any other crash, 2 bad settings)."""


class ConsumerGaveUp(AnbuError):
    """A supervised consumer failed too many times in a row; its process should exit.

    Attributes:
        what: the consumer.
        failures: its failures in a row.
    """

    def __init__(self, what: str, failures: int) -> None:
        super().__init__(f"{what} failed {failures} times in a row; giving up")
        self.what = what
        self.failures = failures


class CommitStalled(AnbuError):
    """Offsets could not be committed several times in a row (the broker is away)."""


@dataclass(frozen=True)
class RestartPolicy:
    """When a failed consumer restarts, and when it gives up.

    Attributes:
        first_delay_s: the wait after a first failure; it doubles after each one ...
        max_delay_s: ... up to this.
        give_up_after: failures in a row after which :class:`ConsumerGaveUp` is raised
            (None: never).
        healthy_after_s: a session that ran this long before failing had recovered: the
            failures in a row (and the wait) start over.
        commit_timeout_s: the longest wait for one offset commit.
        commit_failures: failed commits in a row that end a session.
    """

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    give_up_after: int | None = 10
    healthy_after_s: float = 60.0
    commit_timeout_s: float = 10.0
    commit_failures: int = 3

    @classmethod
    def from_settings(cls, settings: Any) -> RestartPolicy:
        """The policy of ``kafka.consumers``."""
        section = settings.kafka.consumers
        return cls(
            first_delay_s=section.first_delay.total_seconds(),
            max_delay_s=section.max_delay.total_seconds(),
            give_up_after=section.give_up_after or None,
            healthy_after_s=section.healthy_after.total_seconds(),
            commit_timeout_s=section.commit_timeout.total_seconds(),
            commit_failures=section.commit_failures,
        )


DEFAULT_POLICY = RestartPolicy()

_counts_lock = threading.Lock()
_failures: Counter[str] = Counter()
_commit_failures: Counter[str] = Counter()


def failure_count(what: str) -> int:
    """How many times the consumer ``what`` has failed in this process."""
    with _counts_lock:
        return _failures[what]


def commit_failure_count(what: str) -> int:
    """How many offset commits of ``what`` have failed in this process."""
    with _counts_lock:
        return _commit_failures[what]


class _RanWell(Exception):  # noqa: N818 - a signal between two loops, never seen outside
    """A session failed after running long enough to count as recovered."""


async def keep_running(
    session: Callable[[], Awaitable[None]],
    what: str,
    policy: RestartPolicy = DEFAULT_POLICY,
) -> None:
    """Run ``session`` until it returns or is cancelled, starting it again after failures.

    Args:
        session: opens its consumer, works until an error, closes the consumer.
        what: names the session in the log, the counts and the health report.
        policy: the waits, and when to give up.

    Raises:
        ConsumerGaveUp: ``policy.give_up_after`` failures in a row (from the last one).
    """

    async def once() -> None:
        began = time.monotonic()
        try:
            await session()
        except Exception as exc:
            with _counts_lock:
                _failures[what] += 1
            note_error(what, exc)
            if time.monotonic() - began >= policy.healthy_after_s:
                raise _RanWell from exc
            raise

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        # a Kafka error is the broker's; anything else is a bug, with its traceback
        log.warning("%s failed (%d in a row, %d in all): %r; restarting in %.1f s",
                    what, state.attempt_number, failure_count(what), exc, wait,
                    exc_info=None if isinstance(exc, KafkaError | CommitStalled) else exc)

    while True:
        retrying = AsyncRetrying(
            # never a CancelledError (a BaseException): cancelling must end the loop
            retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(_RanWell),
            wait=wait_exponential(multiplier=policy.first_delay_s, min=policy.first_delay_s,
                                  max=policy.max_delay_s),
            stop=(stop_never if policy.give_up_after is None
                  else stop_after_attempt(policy.give_up_after)),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await once()
            return
        except _RanWell as ran_well:
            log.warning("%s failed after running a while (%d failures in all): %r; "
                        "restarting in %.1f s", what, failure_count(what), ran_well.__cause__,
                        policy.first_delay_s)
            await asyncio.sleep(policy.first_delay_s)
        except Exception as exc:
            assert policy.give_up_after is not None  # only a stop ends the retrying
            log.error("%s failed %d times in a row, the last with %r; giving up",
                      what, policy.give_up_after, exc)
            raise ConsumerGaveUp(what, policy.give_up_after) from exc


_stopping: set[asyncio.Task[None]] = set()


async def stop_consumer(consumer: AIOKafkaConsumer, timeout_s: float) -> bool:
    """Stop ``consumer``, waiting at most ``timeout_s``; return whether it stopped.

    Leaving the group needs the broker, which may be why the session ends; aiokafka's
    ``stop`` then waits for it, and cancelling it was found to hang as long. So a stop that
    takes longer goes on by itself, and the next session starts meanwhile.
    """
    task = asyncio.create_task(consumer.stop(), name="stop-kafka-consumer")
    _stopping.add(task)
    task.add_done_callback(_stopping.discard)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        log.warning("a Kafka consumer did not stop within %.0f s; left to stop by itself",
                    timeout_s)
    return bool(done)


IDLE_COMMIT_S = 5.0
"""How often :meth:`Committer.commit_if_idle` commits while no record comes: a lost broker
must show as failing commits on an idle consumer too (an idle ``anbu alerts`` whose broker
was killed ran on for good, never giving up)."""


class Committer:
    """Commits a consumer's offsets: a bounded wait, failures logged and counted.

    Args:
        what: the consumer (as given to :func:`keep_running`).
        policy: the commit timeout and how many failures in a row end the session.
    """

    def __init__(self, what: str, policy: RestartPolicy = DEFAULT_POLICY) -> None:
        self.what = what
        self.policy = policy
        self.in_row = 0
        self._last_commit = time.monotonic()

    async def commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int] | None = None
    ) -> bool:
        """Commit ``offsets`` (default: everything consumed); return whether it worked.

        A failed commit is safe for anbu's consumers: what it covered is read again and
        deduplicated (alerts by id, series by idempotency key and stored offsets).
        """
        self._last_commit = time.monotonic()
        try:
            await asyncio.wait_for(consumer.commit(offsets), self.policy.commit_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            self.in_row += 1
            with _counts_lock:
                _commit_failures[self.what] += 1
            note_error(f"{self.what} commit", exc)
            log.warning("%s: offset commit failed (%d in a row): %r", self.what, self.in_row, exc)
            return False
        self.in_row = 0
        return True

    async def commit_if_idle(self, consumer: AIOKafkaConsumer) -> None:
        """Commit again (what was consumed) after :data:`IDLE_COMMIT_S` without a commit.

        For a loop that commits only after records: call it when a fetch returned none.

        Raises:
            CommitStalled: as :meth:`check`.
        """
        if time.monotonic() - self._last_commit < IDLE_COMMIT_S or not consumer.assignment():
            return
        await self.commit(consumer)
        self.check()

    def check(self) -> None:
        """End the session if commits keep failing.

        Raises:
            CommitStalled: ``policy.commit_failures`` commits in a row failed.
        """
        if self.in_row >= self.policy.commit_failures:
            failures, self.in_row = self.in_row, 0
            raise CommitStalled(f"{self.what}: {failures} offset commits in a row failed")
