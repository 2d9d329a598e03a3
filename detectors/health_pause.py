"""When gateway and device silence may be judged: not while Kafka is away, nor just after.

While the worker cannot reach Kafka no event can arrive, so every gateway would look silent.
And Kafka answering again is not the devices' messages arriving again: the bridges retry on
their own schedule (tens of seconds under load), and the messages held in MQTT and in the
bridge meanwhile arrive stamped with late receive times. So after an outage silence waits for
a record whose event time (the bridge's receive time) is at or after Kafka's return, then a
grace for the backlog on other partitions; at most a bound after the return, so that gateways
that really went quiet meanwhile (a district without power) are still reported.
:class:`detectors.outage.KafkaOutage` sets the pause; the runtime asks it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from anbu.timeutil import from_epoch

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HealthPause:
    """The wall time before which no gateway or device silence is judged, and why."""

    until: float = 0.0
    """Wall time (epoch seconds) before which silence is not judged."""
    fresh_after: float = math.inf
    """The event time a record must reach to show that messages flow again (``inf``: not
    waiting for one)."""
    grace_s: float = 0.0
    """Once they flow again, how long silence is still not judged (the backlog drains)."""

    def holds(self, now: float) -> bool:
        """Whether silence may not be judged at wall time ``now``."""
        return now < self.until

    def until_kafka_is_back(self) -> None:
        """Judge no silence at all until :meth:`await_fresh_records` (Kafka is away)."""
        self.until = math.inf

    def await_fresh_records(self, back: float, grace_s: float, max_s: float) -> None:
        """Judge no silence until records stamped at or after ``back`` arrive, plus ``grace_s``.

        Args:
            back: wall time (epoch seconds) at which Kafka answered again.
            grace_s: seconds after the first fresh record before silence is judged.
            max_s: seconds after ``back`` after which silence is judged in any case.
        """
        self.fresh_after = back
        self.grace_s = grace_s
        self.until = back + max(max_s, grace_s)

    def seen(self, latest: float, wall: float) -> None:
        """A record whose latest event time is ``latest`` arrived at wall time ``wall``."""
        if latest >= self.fresh_after:
            self.fresh_after = math.inf
            self.until = min(self.until, wall + self.grace_s)
            # said once per outage: when a false or missed gateway_offline is asked about,
            # this is the moment silence was judged again
            log.info("devices' messages flow again after the Kafka outage (a record stamped "
                     "%s): gateway and device silence is judged from %s",
                     from_epoch(latest).isoformat(), from_epoch(self.until).isoformat())
