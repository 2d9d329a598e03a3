"""What a new gateway is handed: its MQTT login, as text and as a QR code it can scan.

The QR code holds one URI, ``mqtt://<gateway id>:<password>@<host>:<port>``: the form MQTT
clients and gateway set-up screens commonly read. It is drawn on the server as SVG by
``segno`` and never stored or logged; the password exists only in the one answer.
"""

from __future__ import annotations

from urllib.parse import quote

import segno
from pydantic import BaseModel

from config import Settings


class GatewayLogin(BaseModel):
    """A gateway's MQTT login, shown once.

    Attributes:
        gateway_id: the gateway, also its MQTT user name.
        mqtt_host: the broker address gateways use.
        mqtt_port: its port.
        mqtt_password: the password (only in this answer; the registry keeps a hash).
        uri: the login as one ``mqtt://`` URI (what the QR code holds).
        qr_svg: the QR code as an inline SVG element.
    """

    gateway_id: str
    mqtt_host: str
    mqtt_port: int
    mqtt_password: str
    uri: str
    qr_svg: str


def gateway_login(settings: Settings, gateway_id: str, password: str) -> GatewayLogin:
    """The login of ``gateway_id`` with its QR code."""
    host = settings.registry.gateway_mqtt_host or settings.mqtt.host
    port = settings.registry.gateway_mqtt_port or settings.mqtt.port
    uri = f"mqtt://{quote(gateway_id, safe='')}:{quote(password, safe='')}@{host}:{port}"
    # Error correction M: still readable with a smudge or a glare on a phone screen.
    code = segno.make(uri, error="m", micro=False)
    svg = code.svg_inline(scale=6, border=4, dark="#000", light="#fff", svgclass="gateway-qr",
                          omitsize=True)
    return GatewayLogin(gateway_id=gateway_id, mqtt_host=host, mqtt_port=port,
                        mqtt_password=password, uri=uri, qr_svg=svg)
