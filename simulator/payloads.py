"""Simulated events as the MQTT messages real devices publish, in their native formats.

* Zigbee2MQTT: ``zigbee2mqtt/<friendly_name>`` with the device's whole state
  (``occupancy``, ``contact`` where true means CLOSED, ``presence``, ``battery``,
  ``linkquality``; plugs ``power``, ``energy``, ``state``, ``voltage``, ``current``).
* Tasmota: ``tele/<topic>/SENSOR`` with ``ENERGY.Power`` and ``ENERGY.Total`` (kWh), and
  ``Time`` in local time without an offset, as Tasmota sends it.
* Shelly Gen1: ``shellies/<id>/relay/0/power`` (watts as text) and ``relay/0/energy``
  (watt-minutes). Shelly Gen2+: ``<id>/status/switch:0`` with ``apower`` and
  ``aenergy.total`` (Wh).
* anbu JSON (``ingest/anbu_format.py``): heartbeat, interaction, sos, checkin_answer on the
  gateway's ``anbu/<gateway_id>/...`` topics, with ``ts`` and ``seq``.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

from anbu.events import SourceFormat
from anbu.timeutil import SEOUL, from_epoch
from simulator.model import SimDevice, SimEvent

Message = tuple[str, bytes]
"""An MQTT message: topic and payload."""


@dataclass(slots=True)
class _DeviceState:
    battery: float = 100.0
    energy_wh: float = 0.0
    watts: float = 0.0
    last_t: float | None = None
    linkquality: int = 120
    seq: int = 0


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass(slots=True)
class NativeEncoder:
    """Turns a household's events into native MQTT messages, keeping each device's state.

    Plugs integrate their power into an energy total, sensors carry their latest battery
    level in every message (as Zigbee2MQTT does), anbu JSON carries a sequence number.
    """

    devices: dict[str, SimDevice]
    states: dict[str, _DeviceState] = field(default_factory=dict)

    def _state(self, device_id: str) -> _DeviceState:
        state = self.states.get(device_id)
        if state is None:
            state = self.states[device_id] = _DeviceState(
                linkquality=40 + zlib.crc32(device_id.encode()) % 180
            )
        return state

    def encode(self, event: SimEvent, clock: float | None = None) -> list[Message]:
        """The messages the device would publish for ``event`` (empty if none).

        Args:
            event: the simulated event.
            clock: the device clock's reading (epoch) for the timestamps it sends; unset:
                the event time. Live runs pass the wall-clock time of publishing, since a
                real device's clock is not accelerated.
        """
        device = self.devices[event.device_id]
        stamp_t = event.t if clock is None else clock
        state = self._state(event.device_id)
        if event.kind == "power":
            if state.last_t is not None:
                state.energy_wh += state.watts * (event.t - state.last_t) / 3600.0
            state.watts, state.last_t = event.value, event.t
        elif event.kind == "battery":
            state.battery = event.value
        state.seq += 1
        fmt = device.source_format
        if fmt is SourceFormat.ANBU:
            return self._anbu(device, state, event, stamp_t)
        if fmt is SourceFormat.ZIGBEE2MQTT:
            return self._zigbee2mqtt(device, state, event)
        if fmt is SourceFormat.TASMOTA:
            return self._tasmota(device, state, event, stamp_t)
        if fmt is SourceFormat.SHELLY:
            return self._shelly(device, state, event, stamp_t)
        return []

    def _zigbee2mqtt(self, device: SimDevice, state: _DeviceState, e: SimEvent) -> list[Message]:
        body: dict[str, object] = {"linkquality": state.linkquality}
        if device.battery_powered:
            body["battery"] = int(state.battery)
            body["voltage"] = int(2700 + 3 * state.battery)
        if e.kind == "motion":
            body["occupancy"] = e.value >= 1
            body["illuminance_lux"] = 0 if e.value < 1 else 40 + state.seq % 60
        elif e.kind in ("door", "contact"):
            body["contact"] = e.value < 1  # true: magnet near, the door is CLOSED
        elif e.kind == "presence":
            body["presence"] = e.value >= 1
        elif e.kind == "power":
            body.update(
                power=round(e.value, 1),
                energy=round(state.energy_wh / 1000.0, 3),
                state="ON",
                voltage=229,
                current=round(e.value / 229.0, 3),
            )
        elif e.kind != "battery":
            return []
        return [(device.mqtt_topic, _dumps(body))]

    def _tasmota(
        self, device: SimDevice, state: _DeviceState, e: SimEvent, stamp_t: float
    ) -> list[Message]:
        if e.kind != "power":
            return []
        local = from_epoch(stamp_t).astimezone(SEOUL).replace(tzinfo=None)
        volts = 221
        body = {
            "Time": local.isoformat(timespec="seconds"),
            "ENERGY": {
                "TotalStartTime": "2025-11-01T09:00:00",
                "Total": round(state.energy_wh / 1000.0, 3),
                "Yesterday": 0.0,
                "Today": 0.0,
                "Power": round(e.value),
                "ApparentPower": round(e.value * 1.05),
                "ReactivePower": round(e.value * 0.3),
                "Factor": 0.95 if e.value > 1 else 0.0,
                "Voltage": volts,
                "Current": round(e.value / volts, 3),
            },
        }
        return [(f"{device.mqtt_topic}/SENSOR", _dumps(body))]

    def _shelly(
        self, device: SimDevice, state: _DeviceState, e: SimEvent, stamp_t: float
    ) -> list[Message]:
        if e.kind != "power":
            return []
        if device.mqtt_topic.startswith("shellies/"):
            return [
                (f"{device.mqtt_topic}/relay/0/power", f"{e.value:.2f}".encode()),
                (f"{device.mqtt_topic}/relay/0/energy", str(int(state.energy_wh * 60)).encode()),
            ]
        body = {
            "id": 0,
            "source": "timer",
            "output": True,
            "apower": round(e.value, 1),
            "voltage": 229.8,
            "current": round(e.value / 229.8, 3),
            "aenergy": {
                "total": round(state.energy_wh, 3),
                "by_minute": [0.0, 0.0, 0.0],
                "minute_ts": int(stamp_t),
            },
            "temperature": {"tC": 31.5, "tF": 88.7},
        }
        return [(f"{device.mqtt_topic}/status/switch:0", _dumps(body))]

    def _anbu(
        self, device: SimDevice, state: _DeviceState, e: SimEvent, stamp_t: float
    ) -> list[Message]:
        stamp = {"ts": from_epoch(stamp_t).isoformat(timespec="milliseconds"), "seq": state.seq}
        body: dict[str, object]
        if e.kind == "heartbeat":
            body = {"type": "heartbeat", "uptime_s": float(state.seq * 60)}
        elif e.kind == "robot":
            body = {"type": "interaction", "interaction": e.detail or "touch"}
        elif e.kind == "sos":
            body = {"type": "sos", "source": "robot" if device.kind == "robot" else "button"}
            if e.detail:
                body["detail"] = e.detail
        elif e.kind == "checkin_answer":
            body = {"type": "checkin_answer", "request_id": e.detail or "", "ok": e.value >= 1}
        else:
            return []
        return [(device.mqtt_topic, _dumps({**body, **stamp}))]
