"""Holding the detectors' wall clock while Kafka is away: silence then says nothing.

The timer moves a live partition to the wall clock, so a gateway that stops reporting is
noticed without any event. While the worker cannot reach Kafka no event can arrive at all,
and every gateway on every partition would look silent: a broker restart raised false
``gateway_offline`` alerts. :class:`KafkaOutage`, probed by a timer of its own (the
detectors' timer can itself be blocked on Kafka for the whole outage), tells the detectors'
timer to skip its tick while the broker does not answer. Once it answers again, silence is
judged until the devices' messages flow again (a record stamped after Kafka's return) and
:data:`GRACE_AFTER_S` more, at most :data:`FLOW_WAIT_MAX_S`: the bridges retry on their own
schedule, and the messages held in MQTT and in the bridge during the outage arrive stamped with
late receive times, a gap that says nothing about the gateways.

The hold is bounded (``detectors.outage_max_freeze``): a clock held for ever would hide every
collapse for as long as the outage lasts, or for good if the probe were wrong while the
worker in fact reads. Past the bound the clock moves again (inactivity deadlines fall due),
gateway and device silence stays unjudged until Kafka is back, and an error is logged and
shown in the worker's heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from anbu.health import KafkaReachable, note_error
from detectors.exceptions import DetectorError
from detectors.runtime import Runtime

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
"""How often the broker is probed."""

GRACE_AFTER_S = 30.0
"""After an outage, gateway and device silence is judged again only this long after the
devices' messages flow again."""

FLOW_WAIT_MAX_S = 300.0
"""After an outage, silence is judged again at the latest this long after Kafka's return,
even if no fresh record came (gateways that really went quiet meanwhile are reported)."""


class KafkaOutage:
    """Says whether the timer may move partitions to the wall clock.

    Args:
        runtime: the worker's partitions, given their grace when Kafka is back.
        bootstrap_servers: the brokers to probe.
        max_freeze_s: the longest the clock waits for Kafka (None: the runtime's
            ``outage_max_freeze_s``, from ``detectors.outage_max_freeze``).
    """

    def __init__(self, runtime: Runtime, bootstrap_servers: Sequence[str],
                 max_freeze_s: float | None = None) -> None:
        self.runtime = runtime
        self.probe = KafkaReachable(bootstrap_servers, grace_s=0.0)
        self.down_since: float | None = None
        self.max_freeze_s = (runtime.params.outage_max_freeze_s if max_freeze_s is None
                             else max_freeze_s)
        self.thawed = False
        """The clock moves again although Kafka is still away (held for ``max_freeze_s``)."""

    def clock_may_move(self) -> bool:
        """False while Kafka is unreachable (as last probed by :meth:`check`).

        At most for ``max_freeze_s``: then True again, although Kafka is still away.
        """
        return self.down_since is None or self.thawed

    async def check(self) -> None:
        """Probe the broker; on its return, pause silence checks for the grace period."""
        report = await asyncio.to_thread(self.probe)
        now = time.monotonic()
        runtime = self.runtime
        if not report.facts.get("kafka_reachable"):
            if self.down_since is None:
                self.down_since = now
                log.warning("Kafka unreachable: the detectors' clock waits for it")
            elif not self.thawed and now - self.down_since >= self.max_freeze_s:
                self.thawed = True
                runtime.pause.until_kafka_is_back()
                error = DetectorError(
                    f"Kafka unreachable for {now - self.down_since:.0f} s, longer than "
                    "detectors.outage_max_freeze: the detectors' clock moves again "
                    "(inactivity is judged, gateway and device silence waits for Kafka)")
                log.error("%s", error)
                note_error("detectors clock", error)
            return
        if self.down_since is not None:
            log.warning("Kafka back after %.0f s: gateway and device silence is judged again "
                        "%.0f s after the devices' messages flow again (at most %.0f s)",
                        now - self.down_since, GRACE_AFTER_S, FLOW_WAIT_MAX_S)
            self.down_since = None
            self.thawed = False
            runtime.pause.await_fresh_records(runtime.wall(), GRACE_AFTER_S, FLOW_WAIT_MAX_S)
            for partition in list(runtime.states):
                runtime.quiet_since_load(partition, GRACE_AFTER_S)
