"""Care-robot check-in: ask the resident "are you all right?" over MQTT.

The robot's answer comes back through the bridge as a ``checkin_answer`` event; the
detectors then resolve the alert with ``resolved_by="checkin_answer"``, which the lifecycle
records as a false alarm with the reason kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt

from alerts.directory import Directory
from alerts.exceptions import NotifyError
from alerts.model import Alert, Notification

log = logging.getLogger(__name__)

TEXT_KO = "안녕하세요, 괜찮으세요? 괜찮으시면 화면을 누르거나 '괜찮아'라고 말씀해 주세요."
TEXT_EN = "Hello, are you all right? If you are, touch the screen or say 'I'm fine'."


def checkin_payload(request_id: str) -> bytes:
    """The command JSON, built with the bridge's own model when it is installed."""
    try:
        from ingest.anbu_format import CheckinRequest
    except ImportError:  # a bare alerts install: same JSON, documented in docs/alerts.md
        body: dict[str, Any] = {
            "type": "checkin_request",
            "request_id": request_id,
            "text_ko": TEXT_KO,
            "text_en": TEXT_EN,
        }
        return json.dumps(body, ensure_ascii=False).encode()
    return CheckinRequest(request_id=request_id, text_ko=TEXT_KO, text_en=TEXT_EN).to_json()


def command_topic(base: str) -> str:
    """``<robot base topic>/command``."""
    return f"{base.rstrip('/')}/command"


class CheckinNotifier:
    """Publishes ``checkin_request`` to ``<robot topic>/command`` (QoS 1).

    Args:
        directory: for the household's robot topic.
        host: MQTT broker host.
        port: MQTT broker port.
        username: the service account.
        password: its password.
        timeout_s: how long to wait for the broker's PUBACK.
    """

    channel = "robot"

    def __init__(
        self,
        directory: Directory,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        timeout_s: float = 10.0,
    ) -> None:
        self.directory = directory
        self.timeout_s = timeout_s
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="anbu-checkin")
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(1, 10)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self._connected.set()
        else:
            log.warning("MQTT refused the alerts service: %s", reason)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self._connected.clear()

    def _publish(self, topic: str, payload: bytes) -> None:
        if not self._connected.wait(self.timeout_s):
            raise NotifyError("MQTT broker not connected", retryable=True)
        info = self.client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise NotifyError(f"MQTT publish to {topic} failed: {exc}", retryable=True) from exc
        if not info.is_published():
            raise NotifyError(f"MQTT publish to {topic} not acknowledged", retryable=True)

    async def send(self, alert: Alert, notification: Notification) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        base = self.directory.robot_topic(alert.household_id)
        if not base:
            raise NotifyError("the household has no care robot any more", retryable=False)
        request_id = notification.target.split(":", 1)[-1]
        await asyncio.get_running_loop().run_in_executor(
            self._threads, self._publish, command_topic(base), checkin_payload(request_id)
        )

    async def close(self) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.client.loop_stop()
        self.client.disconnect()
