"""Which devices a simulated household has, and the MQTT topics they publish on.

The mix follows what installers buy: Zigbee sensors behind Zigbee2MQTT, smart plugs from
several vendors (Zigbee, Tasmota, Shelly Gen1 and Gen2), and anbu's own gateway and care
robot, which speak anbu JSON.
"""

from __future__ import annotations

import random

from anbu.events import SourceFormat
from simulator.model import SimDevice, SimHousehold

MOTION_ROOMS = ("bedroom", "bathroom", "kitchen", "living", "entrance")
APPLIANCES = ("tv", "rice_cooker", "kettle")

CARE_CENTERS = {
    "cc-01": ["mangwon-1", "mangwon-2", "seogyo"],
    "cc-02": ["sillim", "nangok", "seowon"],
    "cc-03": ["jangwi-1", "seokgwan", "wolgye-2"],
}

# Plug vendors, weighted by how often installers choose them.
_PLUG_FORMATS = [
    (SourceFormat.ZIGBEE2MQTT, "zigbee2mqtt", 0.55),
    (SourceFormat.TASMOTA, "tasmota", 0.15),
    (SourceFormat.SHELLY, "shelly-gen1", 0.15),
    (SourceFormat.SHELLY, "shelly-gen2", 0.15),
]


def household_id(index: int) -> str:
    """The pseudonymous id of the ``index``-th simulated household (1-based)."""
    return f"hh-{index:05d}"


def gateway_id(index: int) -> str:
    """The gateway id of the ``index``-th household."""
    return f"gw-{index:05d}"


def _plug_topic(rng: random.Random, hh: str, appliance: str) -> tuple[SourceFormat, str]:
    fmt, vendor, _ = rng.choices(_PLUG_FORMATS, weights=[w for _, _, w in _PLUG_FORMATS])[0]
    hexid = f"{rng.getrandbits(24):06X}"
    if vendor == "zigbee2mqtt":
        return fmt, f"zigbee2mqtt/{hh}_plug_{appliance}"
    if vendor == "tasmota":
        return fmt, f"tele/tasmota_{hexid}"
    if vendor == "shelly-gen1":
        return fmt, f"shellies/shellyplug-s-{hexid}"
    return fmt, f"shellyplusplugs-{hexid.lower()}{rng.getrandbits(24):06x}"


def build_household(index: int, rng: random.Random) -> SimHousehold:
    """Build household ``index``'s registry identity and device set."""
    hh = household_id(index)
    gw = gateway_id(index)
    center = sorted(CARE_CENTERS)[index % len(CARE_CENTERS)]
    dong = rng.choice(CARE_CENTERS[center])
    devices: list[SimDevice] = []
    for room in MOTION_ROOMS:
        devices.append(
            SimDevice(
                f"{hh}-motion-{room}",
                hh,
                "motion",
                room,
                SourceFormat.ZIGBEE2MQTT,
                f"zigbee2mqtt/{hh}_{room}_motion",
                battery_powered=True,
                reporting_interval_s=2 * 3600,
            )
        )
    devices.append(
        SimDevice(
            f"{hh}-door-entrance",
            hh,
            "door",
            "entrance",
            SourceFormat.ZIGBEE2MQTT,
            f"zigbee2mqtt/{hh}_entrance_door",
            battery_powered=True,
            reporting_interval_s=2 * 3600,
        )
    )
    devices.append(
        SimDevice(
            f"{hh}-presence-bed",
            hh,
            "presence",
            "bedroom",
            SourceFormat.ZIGBEE2MQTT,
            f"zigbee2mqtt/{hh}_bed",
            battery_powered=True,
            reporting_interval_s=2 * 3600,
        )
    )
    for appliance in APPLIANCES:
        fmt, topic = _plug_topic(rng, hh, appliance)
        room = "living" if appliance == "tv" else "kitchen"
        devices.append(
            SimDevice(
                f"{hh}-plug-{appliance}",
                hh,
                "plug",
                room,
                fmt,
                topic,
                appliance=appliance,
                reporting_interval_s=900,
            )
        )
    devices.append(
        SimDevice(
            f"{hh}-robot",
            hh,
            "robot",
            "living",
            SourceFormat.ANBU,
            f"anbu/{gw}/robot",
            reporting_interval_s=86400,
        )
    )
    devices.append(
        SimDevice(
            f"{hh}-button-sos",
            hh,
            "button",
            "bedroom",
            SourceFormat.ANBU,
            f"anbu/{gw}/button",
            battery_powered=False,
            reporting_interval_s=86400 * 7,
        )
    )
    devices.append(
        SimDevice(
            gw,
            hh,
            "gateway",
            "living",
            SourceFormat.ANBU,
            f"anbu/{gw}/heartbeat",
            reporting_interval_s=180,
        )
    )
    return SimHousehold(hh, index, center, dong, gw, devices)
