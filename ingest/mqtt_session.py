"""The bridge's MQTT sessions: persistent, QoS 1, acknowledged by hand.

Both lanes of the bridge (the main one in :mod:`ingest.bridge`, the SOS one in
:mod:`ingest.sos_lane`) hold a session the broker keeps while they are away (fixed client
id, clean start off, session expiry), and acknowledge a message only after Kafka confirmed
what was made from it. This module opens, connects and ends such a session.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from config import Settings

_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")


def default_client_id(settings: Settings) -> str:
    """Return the bridge's fixed MQTT client id (its persistent session's name)."""
    configured: str | None = settings.ingest.client_id
    return configured or f"anbu-bridge-{socket.gethostname()}"


def shared_filters(settings: Settings) -> list[str]:
    """The main lane's filters: ``$share/<group>/<filter>`` for each topic filter.

    With ``mqtt.shared_group`` empty they are the plain filters: Mosquitto 2.0.11 does not
    restore a persistent session's shared subscriptions after its own restart, so messages
    published before the bridge subscribes again would be lost; plain ones it restores.
    """
    group = settings.mqtt.shared_group
    if not group:
        return list(settings.mqtt.topic_filters)
    return [f"$share/{group}/{topic_filter}" for topic_filter in settings.mqtt.topic_filters]


def session_client(
    settings: Settings,
    client_id: str,
    on_connect: Callable[..., None],
    on_disconnect: Callable[..., None],
    on_message: Callable[..., None],
    on_subscribe: Callable[..., None],
) -> mqtt.Client:
    """An MQTT v5 client with manual acknowledgements, logged in with the bridge's account.

    The callbacks are paho's (callback API version 2), called on paho's network thread.
    """
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    client.username_pw_set(settings.mqtt.username, settings.mqtt_password())
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    return client


def connect_session(client: mqtt.Client, settings: Settings) -> None:
    """Connect in the background, resuming the persistent session, and start paho's loop."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = int(settings.ingest.session_expiry.total_seconds())
    properties.ReceiveMaximum = settings.ingest.receive_maximum
    client.connect_async(
        settings.mqtt.host,
        settings.mqtt.port,
        keepalive=settings.mqtt.keepalive_s,
        clean_start=False,  # what arrives while the bridge is down waits in the session
        properties=properties,
    )
    client.loop_start()


def disconnect(client: mqtt.Client, *, end_session: bool = False) -> None:
    """Disconnect; with ``end_session`` the broker drops the session (session expiry 0)."""
    if end_session:
        properties = Properties(PacketTypes.DISCONNECT)
        properties.SessionExpiryInterval = 0
        client.disconnect(properties=properties)
    else:
        client.disconnect()


def ack_all(client: mqtt.Client, mids: list[int], ack: Callable[[int], Any]) -> None:
    """Acknowledge the QoS 1 messages ``mids``; ``ack`` acknowledges one (and logs a failure).

    Many PUBACKs go in one write: paho's ``ack()`` queues and wakes its loop once per
    message, which cost the bridge a noticeable share of its time. A PUBACK is 4 bytes.
    """
    queue = getattr(client, "_packet_queue", None)
    if queue is None or len(mids) == 1:
        for mid in mids:
            ack(mid)
        return
    try:
        queue(_PUBACK, b"".join(_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids), 0, 1)
    except TypeError:  # a paho whose private queue changed: one ack() per message
        for mid in mids:
            ack(mid)
