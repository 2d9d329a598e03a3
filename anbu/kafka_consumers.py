"""What anbu's Kafka consumers share: short group timeouts, and reconnecting.

Example::

    async def session() -> None:
        async with AIOKafkaConsumer(topic, **GROUP_TIMEOUTS, ...) as consumer:
            ...  # consume until cancelled; any error ends the session

    await keep_running(session, "last-seen consumer")  # until cancelled
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

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


async def keep_running(
    session: Callable[[], Awaitable[None]],
    what: str,
    *,
    first_delay_s: float = 1.0,
    max_delay_s: float = 60.0,
) -> None:
    """Run ``session`` until cancelled, starting it again after every error.

    The delay doubles after each failure up to ``max_delay_s``, and starts over once a
    session has run longer than ``max_delay_s`` (it had connected: Kafka was back). A session
    that returns is started again after the same delay.

    Args:
        session: opens its consumer, works until an error, closes the consumer.
        what: names the session in the log.
        first_delay_s: the first wait after an error.
        max_delay_s: the longest wait.
    """
    delay = first_delay_s
    while True:
        began = time.monotonic()
        try:
            await session()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Kafka away or a bug: keep going, say why
            note_error(what, exc)
            if time.monotonic() - began > max_delay_s:
                delay = first_delay_s
            log.warning("%s stopped (%r); retrying in %.1f s", what, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)
