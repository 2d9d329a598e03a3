"""One adapter per native payload format, chosen by the device's registered source format.

An adapter is a function ``(suffix, payload, owner) -> Parsed``: ``suffix`` is the part of
the topic after the device's registered base topic (``""``, ``"availability"``,
``"relay/0/power"``). It raises :class:`ingest.exceptions.Rejected` for bad input and
:class:`ingest.exceptions.Ignored` for messages that carry nothing anbu uses.
"""

from __future__ import annotations

from collections.abc import Callable

from anbu.events import SourceFormat
from ingest.adapters import anbu_json, shelly, tasmota, zigbee2mqtt
from ingest.readings import Owner, Parsed

Adapter = Callable[[str, bytes, Owner], Parsed]

ADAPTERS: dict[SourceFormat, Adapter] = {
    SourceFormat.ZIGBEE2MQTT: zigbee2mqtt.adapt,
    SourceFormat.TASMOTA: tasmota.adapt,
    SourceFormat.SHELLY: shelly.adapt,
    SourceFormat.ANBU: anbu_json.adapt,
}

__all__ = ["ADAPTERS", "Adapter"]
