"""Holding the detectors' wall clock while Kafka is away: silence then says nothing.

The timer moves a live partition to the wall clock, so a gateway that stops reporting is
noticed without any event. While the worker cannot reach Kafka no event can arrive at all,
and every gateway on every partition would look silent: a broker restart raised false
``gateway_offline`` alerts. :class:`KafkaOutage`, probed by a timer of its own (the
detectors' timer can itself be blocked on Kafka for the whole outage), tells the detectors'
timer to skip its tick while the broker does not answer. Once it answers again, silence is
not judged for :data:`GRACE_AFTER_S`: the messages held in MQTT and in the bridge during the
outage arrive stamped with late receive times, a gap that says nothing about the gateways.
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
"""How often the broker is probed."""

GRACE_AFTER_S = 30.0
"""After an outage, gateway and device silence is judged again only after this long."""


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

    def clock_may_move(self) -> bool:
        """False while Kafka is unreachable (as last probed by :meth:`check`)."""
        return self.down_since is None

    async def check(self) -> None:
        """Probe the broker; on its return, pause silence checks for the grace period."""
        report = await asyncio.to_thread(self.probe)
        now = time.monotonic()
        if not report.facts.get("kafka_reachable"):
            if self.down_since is None:
                self.down_since = now
                log.warning("Kafka unreachable: the detectors' clock waits for it")
            return
        if self.down_since is not None:
            log.warning("Kafka back after %.0f s: gateway and device silence is judged again "
                        "in %.0f s", now - self.down_since, GRACE_AFTER_S)
            self.down_since = None
            runtime = self.runtime
            runtime.health_paused_until = runtime.wall() + GRACE_AFTER_S
            for partition in list(runtime.states):
                runtime.quiet_since_load(partition, GRACE_AFTER_S)
