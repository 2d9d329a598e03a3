"""The simulated residents answer their care robot's "are you all right?".

The alerts service publishes a check-in request on ``<robot's topic>/command`` before it
escalates an inactivity alert (``ingest/anbu_format.py``: ``CheckinRequest``). A resident who
is up and about answers after a few seconds with an anbu ``checkin_answer`` (ok), published
on the robot's topic as the real robot would; one who has collapsed does not answer.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from anbu.timeutil import from_epoch
from simulator.world import Simulation

log = logging.getLogger(__name__)

COMMAND_FILTER = "anbu/+/robot/command"


class CheckinResponder:
    """Answers check-in requests for the simulated households' robots.

    Args:
        client: a connected MQTT client (its network loop running).
        simulation: the households and their plans (who has collapsed, and when).
        sim_now: the current simulated time (epoch seconds).
        delay_s: (min, max) real seconds the resident takes to answer.
    """

    def __init__(
        self,
        client: mqtt.Client,
        simulation: Simulation,
        sim_now: Callable[[], float],
        delay_s: tuple[float, float] = (3.0, 15.0),
    ) -> None:
        self.client = client
        self.sim_now = sim_now
        self.delay_s = delay_s
        self.rng = random.Random("checkin")
        self.robots = {}
        for member in simulation.members:
            robot = member.household.device("robot")
            self.robots[robot.mqtt_topic] = member
        self.answered = 0

    def start(self) -> None:
        """Subscribe to the robots' command topics."""
        self.client.message_callback_add(COMMAND_FILTER, self._on_command)
        self.client.subscribe(COMMAND_FILTER, qos=1)

    def _on_command(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        base = msg.topic.removesuffix("/command")
        member = self.robots.get(base)
        try:
            request = json.loads(msg.payload)
        except ValueError:
            log.warning("robot %s got a command that is not JSON", base)
            return
        if member is None or request.get("type") != "checkin_request":
            return
        collapse = member.plan.collapse_at
        if collapse is not None and collapse <= self.sim_now():
            log.info("demo: %s cannot answer the check-in", member.household.household_id)
            return
        timer = threading.Timer(
            self.rng.uniform(*self.delay_s), self._answer, args=(base, str(request["request_id"]))
        )
        timer.daemon = True
        timer.start()

    def _answer(self, base: str, request_id: str) -> None:
        body = {
            "type": "checkin_answer",
            "request_id": request_id,
            "ok": True,
            "ts": from_epoch(time.time()).isoformat(timespec="milliseconds"),
        }
        self.client.publish(base, json.dumps(body).encode(), qos=1)
        self.answered += 1
