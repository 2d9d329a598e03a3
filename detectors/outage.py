"""Holding the detectors' wall clock while Kafka is away: silence then says nothing.

The timer moves a live partition to the wall clock, so a gateway that stops reporting is
noticed without any event. While the worker cannot reach Kafka no event can arrive at all,
and every gateway on every partition would look silent: a broker restart raised false
``gateway_offline`` alerts. :class:`KafkaOutage` tells the timer to skip its tick while the
broker does not answer, and, once it answers again, gives each partition a grace period so
the backlog held during the outage is read before any silence is judged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from anbu.health import KafkaReachable
from detectors.runtime import Runtime

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
"""How often the broker is probed (the timer ticks more often)."""

GRACE_AFTER_S = 15.0
"""After an outage, silence is judged only once this long has passed with no record."""


class KafkaOutage:
    """Says whether the timer may move partitions to the wall clock.

    Args:
        runtime: the worker's partitions, given their grace when Kafka is back.
        bootstrap_servers: the brokers to probe.
    """

    def __init__(self, runtime: Runtime, bootstrap_servers: Sequence[str]) -> None:
        self.runtime = runtime
        self.probe = KafkaReachable(bootstrap_servers, grace_s=0.0)
        self.down_since: float | None = None
        self._checked = 0.0

    async def clock_may_move(self) -> bool:
        """False while Kafka is unreachable (checked at most every :data:`CHECK_EVERY_S`)."""
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return self.down_since is None
        self._checked = now
        report = await asyncio.to_thread(self.probe)
        reachable = bool(report.facts.get("kafka_reachable"))
        if not reachable:
            if self.down_since is None:
                self.down_since = now
                log.warning("Kafka unreachable: the detectors' clock waits for it")
            return False
        if self.down_since is not None:
            log.warning("Kafka back after %.0f s: silence is judged again once the backlog "
                        "is read (%.0f s without records)", now - self.down_since, GRACE_AFTER_S)
            self.down_since = None
            for partition in list(self.runtime.states):
                self.runtime.quiet_since_load(partition, GRACE_AFTER_S)
        return True
